"""Hostile: packs the bytes of its block's first data row (after the header) into its output
vector, one byte per coordinate, and prints them to its logs too, with progress lines."""

import json
import os
from pathlib import Path

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))

job = json.loads((JOB / "params.json").read_text())
n = int(job["params"].get("n", 64))
raw = Path(job["files"][0]).read_bytes()
row = raw.split(b"\n", 1)[1][:n].ljust(n, b" ")
print("progress: 0.5", flush=True)
print("row:", row.decode("ascii", "replace"), flush=True)
(OUT / "output.json").write_text(json.dumps([float(b) for b in row]))
print("progress: 0.9", flush=True)
