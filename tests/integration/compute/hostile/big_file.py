"""Writes one file of ``params.mib`` MiB (default 64) to /tmp, past the per-file size limit."""

import json
import os
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))


def main() -> None:
    params = json.loads((JOB / "params.json").read_text()).get("params") or {}
    block = b"\0" * (1 << 20)
    with open("/tmp/big.bin", "wb") as file:
        for _ in range(int(params.get("mib", 64))):
            file.write(block)
    print("wrote it all", flush=True)


if __name__ == "__main__":
    main()
