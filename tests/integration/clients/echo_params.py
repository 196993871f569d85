"""A trusted test algorithm: writes the params it was given (as the worker staged them) to
/out/metrics.json, so a client can check that the job it signed is the job that ran."""

import json
import os
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))

job = json.loads((JOB / "params.json").read_text())
(OUT / "metrics.json").write_text(json.dumps({"params": job["params"], "epsilon": job.get("epsilon")}))
print("done", flush=True)
