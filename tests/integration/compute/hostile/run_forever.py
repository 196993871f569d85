"""Never ends: prints once, then burns CPU (``params.mode == "spin"``, the default) or sleeps."""

import json
import os
import time
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))


def main() -> None:
    params = json.loads((JOB / "params.json").read_text()).get("params") or {}
    print("started", flush=True)
    if params.get("mode", "spin") == "spin":
        while True:
            pass
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
