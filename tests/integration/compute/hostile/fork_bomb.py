"""A fork bomb: every process forks as fast as it can, forever. The first process waits
``params.seconds`` (default 2), counts the processes it can see, writes /out/report.json and exits."""

import json
import os
import time
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))


def bomb() -> None:
    refused = 0
    while True:
        try:
            os.fork()
        except OSError:
            refused += 1
            time.sleep(0.001)


def main() -> None:
    params = json.loads((JOB / "params.json").read_text()).get("params") or {}
    if os.fork() == 0:
        bomb()
    time.sleep(float(params.get("seconds", 2)))
    seen = [name for name in os.listdir("/proc") if name.isdigit()]
    report = {"processes": len(seen)}
    print(json.dumps(report), flush=True)
    try:
        (OUT / "report.json").write_text(json.dumps(report))
    except OSError as exc:
        print("cannot write the report:", exc, flush=True)


if __name__ == "__main__":
    main()
