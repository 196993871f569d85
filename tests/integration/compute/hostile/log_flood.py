"""Floods its logs: ``params.mib`` MiB of numbered lines (default 4), one line of ``params.long_kib``
KiB without a newline in between (default 256), then ``progress: 1.0`` as its very last line."""

import json
import os
import sys
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))


def main() -> None:
    params = json.loads((JOB / "params.json").read_text()).get("params") or {}
    line = "x" * 99 + "\n"
    out = sys.stdout
    for number in range(int(params.get("mib", 4)) * 10486):
        out.write(f"{number:08d} {line}")
    out.write("L" * (int(params.get("long_kib", 256)) << 10) + "\n")
    sys.stderr.write("stderr is captured too\n")
    out.write("progress: 1.0\n")
    out.flush()


if __name__ == "__main__":
    main()
