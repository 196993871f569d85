"""Hostile: writes an output that breaks the job's declared output spec in the way ``params.mode``
names (values out of bounds, a wrong shape, an extra file, a long sleep, a crash after printing
data)."""

import json
import os
import sys
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))

job = json.loads((JOB / "params.json").read_text())
mode, size = job["params"]["mode"], int(job["params"].get("size", 1))
value = float(job["params"].get("value", 0.0))
if mode == "out_of_bounds":
    (OUT / "output.json").write_text(json.dumps([value] * size))
elif mode == "wrong_shape":
    (OUT / "output.json").write_text(json.dumps([value] * (size + 1)))
elif mode == "extra_file":
    (OUT / "output.json").write_text(json.dumps([value] * size))
    (OUT / "rows.csv").write_bytes(Path(job["files"][0]).read_bytes()[:4096])
elif mode == "sleep":  # as long as a row's value says, were it a timing attack
    import time

    time.sleep(value)
    (OUT / "output.json").write_text(json.dumps([1.0] * size))
elif mode == "crash":
    print(Path(job["files"][0]).read_text()[:2000], flush=True)
    print("progress: 0.7", flush=True)
    sys.exit(3)
