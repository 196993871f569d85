"""A small logistic regression, as an algorithm the dataset does not vet: it runs under sample and
aggregate (docs/privacy.md), once per block, and writes its coefficients and intercept to
/out/output.json. The provider clips, averages and noises them; this script does no DP itself.

params: {"target": column name, "bounds": {column: [lo, hi]} (public, to scale every feature to
[-1, 1]), "steps": gradient steps, "l2": penalty}. numpy only, so that a block starts quickly.
"""

import csv
import json
import os
from pathlib import Path

import numpy as np

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))

job = json.loads((JOB / "params.json").read_text())
params = job["params"]
target, bounds = params["target"], params["bounds"]
with open(job["files"][0], newline="") as f:
    rows = list(csv.DictReader(f))
features = sorted(bounds)
lo = np.array([bounds[c][0] for c in features])
hi = np.array([bounds[c][1] for c in features])
x = np.array([[float(r[c]) for c in features] for r in rows]).reshape(len(rows), len(features))
y = np.array([float(r[target]) for r in rows])
x = np.clip(2 * (x - lo) / (hi - lo) - 1, -1, 1)
w, b = np.zeros(len(features)), 0.0
for _ in range(int(params.get("steps", 300))):
    p = 1 / (1 + np.exp(-(x @ w + b)))
    w -= 0.5 * (x.T @ (p - y) / max(len(y), 1) + float(params.get("l2", 0.05)) * w)
    b -= 0.5 * float((p - y).mean()) if len(y) else 0.0
(OUT / "output.json").write_text(json.dumps([*w.tolist(), b]))
