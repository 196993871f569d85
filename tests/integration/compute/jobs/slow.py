"""A well-behaved algorithm that takes its time: ``params.seconds`` of progress lines, then a
metrics file. For the crash-recovery and cancellation tests."""

import json
import os
import time
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))

params = json.loads((JOB / "params.json").read_text())["params"]
steps = int(params.get("seconds", 5) * 10)
for i in range(steps):
    print(f"progress: {i / steps:.2f}", flush=True)
    time.sleep(0.1)
(OUT / "metrics.json").write_text(json.dumps({"steps": steps}))
print("done", flush=True)
