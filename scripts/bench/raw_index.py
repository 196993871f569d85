"""What building the raw-row index in a capped child process costs, beside building it in the worker.

    .venv/bin/python scripts/bench/raw_index.py [--runs 3] [--sizes 1,10]

For each dataset (a 5-column CSV and token-dense text, of each size in MiB) and each way
(``in_process``: ``RawIndex.from_files`` in the worker; ``child``: ``index_process.build_index``, the
worker's way, with a spare child ready as in a worker that has been up; ``child_cold``: the same with
no spare, so the child loads its libraries first), RUNS fresh processes stand for the worker: each
imports the policy, builds the index once and reports its peak RSS before and after the build, its
RSS after (what it keeps: the index), the child's peak RSS (``RUSAGE_CHILDREN``) and the build's wall
time. Figures are medians over the runs; the overhead is a child's wall time minus the in-process
one. Prints a table and writes bench/results/raw_index.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts" / "bench"))

from machine import machine  # noqa: E402

OUT = ROOT / "bench" / "results" / "raw_index.json"
MIB = 1024 * 1024
WAYS = ("in_process", "child_cold", "child")
#: How long the stand-in worker lets its spare child load its libraries (about 0.7 s here).
SPARE_WAIT_S = 4.0

#: One run, in a fresh interpreter standing for the worker.
RUN = """
import json, resource, sys, time
from pathlib import Path

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

way, path, folder = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
from compute_to_data.policy import RawIndex, index_process
from compute_to_data.policy.index_process import build_index
if way == "child":  # a worker that has been up: its spare child has loaded its libraries
    index_process.prestart()
    time.sleep(SPARE_WAIT_S)
before = status("VmHWM")
started = time.perf_counter()
if way == "in_process":
    index = RawIndex.from_files([path])
else:
    index = build_index([path], folder)
wall = time.perf_counter() - started
print(json.dumps({
    "wall_s": wall,
    "worker_peak_before_bytes": before,
    "worker_peak_after_bytes": status("VmHWM"),
    "worker_rss_after_bytes": status("VmRSS"),
    "child_peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 or None,
    "patterns": index._npatterns,
}))
"""


def write_csv(path: Path, size: int, rng: random.Random) -> None:
    lines, total, i = ["id,name,age,city,score"], 0, 0
    while total < size:
        name = "".join(rng.choices(string.ascii_lowercase, k=8))
        line = f"{i},{name},{rng.randint(18, 90)},{rng.choice(['paris', 'rome', 'oslo'])},{rng.random():.4f}"
        lines.append(line)
        total += len(line) + 1
        i += 1
    path.write_text("\n".join(lines) + "\n")


def write_dense_text(path: Path, size: int, rng: random.Random) -> None:
    """Lines of thirty three-letter words: as many tokens per byte as text has."""
    lines, total = [], 0
    while total < size:
        line = " ".join("".join(rng.choices(string.ascii_lowercase, k=3)) for _ in range(30))
        lines.append(line)
        total += len(line) + 1
    path.write_text("\n".join(lines) + "\n")


def measure(way: str, path: Path, folder: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", RUN.replace("SPARE_WAIT_S", repr(SPARE_WAIT_S)), way, str(path), str(folder)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict:
    mb = {k: round(statistics.median(r[k] for r in runs) / MIB, 1) for k in runs[0] if k.endswith("_bytes")
          and runs[0][k] is not None}  # fmt: skip
    return {
        "wall_s": round(statistics.median(r["wall_s"] for r in runs), 3),
        **{k.replace("_bytes", "_mib"): v for k, v in mb.items()},
        "patterns": runs[0]["patterns"],
        "runs": len(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="1,10", help="dataset sizes in MiB, comma-separated")
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON goes")
    args = parser.parse_args()
    rng = random.Random(1)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for mib in (int(s) for s in args.sizes.split(",")):
            for shape, write, suffix in (
                ("csv", write_csv, ".csv"),
                ("dense_text", write_dense_text, ".txt"),
            ):
                path = folder / f"{shape}_{mib}mib{suffix}"
                write(path, mib * MIB, rng)
                results: dict[str, list[dict]] = {way: [] for way in WAYS}
                for _ in range(args.runs):
                    for way in WAYS:  # alternating, so that a busy moment hits both
                        results[way].append(measure(way, path, folder))
                case = {"dataset": shape, "size_mib": mib, **{way: summary(results[way]) for way in WAYS}}
                for way, key in (("child", "overhead"), ("child_cold", "overhead_cold")):
                    overhead = case[way]["wall_s"] - case["in_process"]["wall_s"]
                    case[f"{key}_s"] = round(overhead, 3)
                    case[f"{key}_pct"] = round(100 * overhead / case["in_process"]["wall_s"], 1)
                cases.append(case)
                path.unlink()
    header = (
        f"{'dataset':<12}{'MiB':>5}{'in-process s':>14}{'child s':>9}{'overhead':>10}{'cold s':>8}"
        f"{'worker peak MiB (in/child)':>28}{'child peak MiB':>16}"
    )
    print(header)
    for c in cases:
        ip, ch = c["in_process"], c["child"]
        print(
            f"{c['dataset']:<12}{c['size_mib']:>5}{ip['wall_s']:>14.2f}{ch['wall_s']:>9.2f}"
            f"{c['overhead_pct']:>9.1f}%{c['child_cold']['wall_s']:>8.2f}"
            f"{ip['worker_peak_after_mib']:>14.0f} / {ch['worker_peak_after_mib']:<11.0f}"
            f"{ch.get('child_peak_mib', 0):>16.0f}"
        )
    result = {
        "benchmark": "raw_index",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
