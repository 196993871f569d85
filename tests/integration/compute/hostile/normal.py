"""A well-behaved algorithm: reads /job/params.json and every file of /data, writes /out/result.json.

Prints ``progress:`` lines; ``params.delay`` (seconds) waits before the first output. Also starts a
thread and a child process, which the sandbox must allow.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

DATA = Path(os.environ.get("DATAMARKET_DATA_DIR", "/data"))
JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))


def main() -> None:
    job = json.loads((JOB / "params.json").read_text())
    params = job.get("params") or {}
    time.sleep(float(params.get("delay", 0)))
    print("progress: 0.0", flush=True)
    sizes = {path.name: len(path.read_bytes()) for path in sorted(DATA.iterdir()) if path.is_file()}
    rows = sum(path.read_text().count("\n") for path in DATA.glob("*.csv"))
    print("progress: 0.5", flush=True)
    box: list[int] = []
    worker = threading.Thread(target=lambda: box.append(sum(range(1000))))
    worker.start()
    worker.join()
    child = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True, check=True)
    result = {
        "files": sizes,
        "rows": rows,
        "thread": box[0],
        "child": int(child.stdout),
        "uid": os.getuid(),
        "cwd": os.getcwd(),
        "params": params,
    }
    (OUT / "result.json").write_text(json.dumps(result, sort_keys=True))
    print("progress: 1.0", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
