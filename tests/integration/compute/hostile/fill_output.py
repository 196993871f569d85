"""Writes to /out in 1 MiB pieces until the file system refuses (ENOSPC) or ``params.max_mib`` is
reached, then reports how much it wrote in /out/report.json (kept tiny) and exits 0."""

import errno
import json
import os
import time
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))


def main() -> None:
    params = json.loads((JOB / "params.json").read_text()).get("params") or {}
    limit = int(params.get("max_mib", 100_000))
    pause = float(params.get("pause", 0))
    block = os.urandom(1 << 20)
    written, error = 0, None
    try:
        with open(OUT / "filler.bin", "wb") as file:
            while written < limit:
                file.write(block)
                file.flush()
                written += 1
                time.sleep(pause)
    except OSError as exc:
        error = errno.errorcode.get(exc.errno, str(exc.errno))
    print(f"wrote {written} MiB, stopped by {error}", flush=True)
    if error == "ENOSPC":
        os.remove(OUT / "filler.bin")  # room for the report
    (OUT / "report.json").write_text(json.dumps({"mib": written, "error": error}))


if __name__ == "__main__":
    main()
