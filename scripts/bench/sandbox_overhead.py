"""What the bubblewrap sandbox costs: one CPU training run bare and sandboxed, and the sandbox's start.

    .venv/bin/python scripts/bench/sandbox_overhead.py [--runs 3] [--latency-runs 20] [--steps N]

1. Training: ``datamarket/algorithms/train_tabular.py`` on a synthetic table when it exists and
   runs bare, else a small torch MLP on synthetic data (about 10-20 s here), RUNS times bare and RUNS
   times in the sandbox, alternating; the median wall seconds of each (the whole process: start,
   imports, training) and the overhead. Target: <= 5%. Bare runs get the same roots through the
   ``DATAMARKET_*_DIR`` variables and the same ``OMP_NUM_THREADS``.
2. Start latency: from calling ``sandbox.run`` to the first line of a script that only prints
   (``first_output_s``), p50 / p99 over LATENCY_RUNS runs, beside the same for a bare python.

Needs bwrap (and root for the tmpfs and cgroups the worker uses). Prints a table and writes
bench/results/sandbox_overhead.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from compute_to_data import sandbox  # noqa: E402
from datamarket import builtins  # noqa: E402

OUT = ROOT / "bench" / "results" / "sandbox_overhead.json"
TRAIN_TABULAR = ROOT / "compute_to_data" / "algorithms" / "train_tabular.py"
TARGET_PCT = 5.0

#: The fallback workload: an MLP trained for a fixed number of steps on synthetic data.
MLP = """
import json, os, time
from pathlib import Path

start = time.perf_counter()
import torch

JOB = Path(os.environ.get("DATAMARKET_JOB_DIR", "/job"))
OUT = Path(os.environ.get("DATAMARKET_OUT_DIR", "/out"))
params = json.loads((JOB / "params.json").read_text())["params"]
torch.manual_seed(0)
x = torch.randn(20000, 64)
y = (x[:, :8].sum(dim=1) > 0).long()
layers = [torch.nn.Linear(64, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU()]
model = torch.nn.Sequential(*layers, torch.nn.Linear(512, 2))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()
steps = int(params["steps"])
trained = time.perf_counter()
for step in range(steps):
    index = torch.randint(0, len(x), (512,))
    optimizer.zero_grad()
    loss = loss_fn(model(x[index]), y[index])
    loss.backward()
    optimizer.step()
    if step % max(1, steps // 10) == 0:
        print(f"progress: {step / steps:.2f}", flush=True)
elapsed = time.perf_counter() - trained
(OUT / "metrics.json").write_text(json.dumps({"loss": loss.item(), "train_seconds": elapsed}))
print(f"train_seconds: {elapsed:.3f} total: {time.perf_counter() - start:.3f}", flush=True)
"""


def _bwrap_version() -> str:
    done = subprocess.run(
        [sandbox.check_available(), "--version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Workspace:
    """A job's folders laid out as the worker does: private parent, readable data and job folders."""

    def __init__(
        self, base: Path, script: str | None, params: dict, data: dict[str, str], builtin: str = "",
        declarations: dict | None = None,
    ) -> None:  # fmt: skip
        """`script`: the algorithm's source, or None to stage the built-in `builtin` (main.py and modules)."""
        self.root = base
        self.data, self.job, self.out = base / "data", base / "job", base / "out"
        for folder in (self.data, self.job / "algorithm"):
            folder.mkdir(parents=True)
        for name, text in data.items():
            (self.data / name).write_text(text)
        if script is None:
            builtins.stage(builtin, self.job / "algorithm")
        else:
            (self.job / "algorithm" / "main.py").write_text(script)
        document = {"params": params, "epsilon": None, "delta": 1e-5, "device": "cpu", "seed": 0}
        if declarations is not None:
            document["declarations"] = declarations
        document["files"] = [f"/data/{name}" for name in data]
        (self.job / "params.json").write_text(json.dumps(document))
        for path in [self.root, *self.root.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        self.out.mkdir()

    def reset_out(self, sandboxed: bool, limits: sandbox.Limits) -> None:
        sandbox.release_output(self.out)
        shutil.rmtree(self.out)
        self.out.mkdir()
        if sandboxed:
            sandbox.prepare_output(self.out, limits.output_bytes)
        else:
            os.chmod(self.out, 0o777)

    def bare(self, python: str) -> tuple[float, int, str]:
        env = {
            "PATH": f"{Path(python).parent}:/usr/bin:/bin",
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": str(sandbox.environment._cpu_count()),
            "DATAMARKET_DATA_DIR": str(self.data),
            "DATAMARKET_JOB_DIR": str(self.job),
            "DATAMARKET_OUT_DIR": str(self.out),
        }
        start = time.perf_counter()
        done = subprocess.run(
            [python, str(self.job / "algorithm" / "main.py")],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return time.perf_counter() - start, done.returncode, done.stdout + done.stderr

    def sandboxed(self, name: str, limits: sandbox.Limits) -> tuple[float, sandbox.SandboxResult, str]:
        log = self.root / "job.log"
        spec = sandbox.SandboxSpec(
            argv=("python3", "/job/algorithm/main.py"),
            data_dir=self.data,
            job_dir=self.job,
            out_dir=self.out,
            log_path=log,
            name=name,
            limits=limits,
        )
        start = time.perf_counter()
        result = sandbox.run(spec)
        return time.perf_counter() - start, result, log.read_text(errors="replace")


def synthetic_table(rows: int = 20000, features: int = 16) -> str:
    generator = random.Random(0)
    lines = [",".join([*(f"f{i}" for i in range(features)), "label"])]
    for _ in range(rows):
        values = [generator.gauss(0, 1) for _ in range(features)]
        lines.append(",".join([*(f"{v:.5f}" for v in values), str(int(sum(values[:4]) > 0))]))
    return "\n".join(lines) + "\n"


def choose_workload(base: Path, steps: int) -> tuple[str, Workspace]:
    if TRAIN_TABULAR.exists():
        table = synthetic_table()
        header = next(csv.reader([table.splitlines()[0]]))
        params = {"target": header[-1], "epochs": 5}
        # What the table's publisher would declare: the label's classes and the features' bounds.
        columns = {name: {"type": "numeric", "lower": -6.0, "upper": 6.0} for name in header[:-1]}
        columns[header[-1]] = {"type": "categorical", "values": [0, 1]}
        declared = {"columns": columns, "targets": [header[-1]]}
        workspace = Workspace(
            base / "train_tabular", None, params, {"train.csv": table}, builtin="train_tabular",
            declarations=declared,
        )  # fmt: skip
        _, code, output = workspace.bare(sys.executable)
        if code == 0:
            return "train_tabular", workspace
        print(f"train_tabular.py failed bare ({code}), using the built-in MLP:\n{output[-2000:]}")
    return "mlp", Workspace(base / "mlp", MLP, {"steps": steps}, {"unused.csv": "a\n1\n"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=400, help="training steps of the built-in MLP")
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON goes")
    args = parser.parse_args()

    sandbox.check_available()
    limits = sandbox.Limits()
    base = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    os.chmod(base, 0o700)
    try:
        workload, workspace = choose_workload(base, args.steps)
        bare_s: list[float] = []
        boxed_s: list[float] = []
        for run in range(args.runs):
            for sandboxed in (run % 2 == 1, run % 2 == 0):  # alternate which goes first
                workspace.reset_out(sandboxed, limits)
                if sandboxed:
                    seconds, result, log = workspace.sandboxed(f"bench-{os.getpid()}-{run}", limits)
                    if result.exit_code != 0:
                        raise SystemExit(f"sandboxed run failed: {result}\n{log[-3000:]}")
                    boxed_s.append(seconds)
                else:
                    seconds, code, log = workspace.bare(sys.executable)
                    if code != 0:
                        raise SystemExit(f"bare run failed ({code}):\n{log[-3000:]}")
                    bare_s.append(seconds)
                print(f"  {workload} {'sandbox' if sandboxed else 'bare   '} run {run + 1}: {seconds:.2f} s")
        workspace.reset_out(False, limits)

        latency = Workspace(base / "latency", 'print("ready", flush=True)\n', {}, {"unused.csv": "a\n"})
        first: list[float] = []
        for run in range(args.latency_runs):
            latency.reset_out(True, limits)
            _, result, _ = latency.sandboxed(f"bench-{os.getpid()}-latency-{run}", limits)
            assert result.first_output_s is not None
            first.append(result.first_output_s)
        latency.reset_out(False, limits)
        bare_first: list[float] = []
        for _ in range(args.latency_runs):
            start = time.perf_counter()
            with subprocess.Popen(
                [sys.executable, str(latency.job / "algorithm" / "main.py")], stdout=subprocess.PIPE
            ) as child:
                assert child.stdout is not None
                child.stdout.readline()
                bare_first.append(time.perf_counter() - start)
    finally:
        for folder in base.glob("*/out"):
            sandbox.release_output(folder)
        shutil.rmtree(base, ignore_errors=True)

    bare_median, boxed_median = statistics.median(bare_s), statistics.median(boxed_s)
    overhead = 100 * (boxed_median - bare_median) / bare_median
    cgroups = sandbox.probe_cgroups()
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": sandbox.environment._cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
        },
        "sandbox": {
            "as_root": os.geteuid() == 0,
            "isolation": cgroups.split(" (")[0],
            "bwrap": _bwrap_version(),
        },
        "training": {
            "workload": workload,
            "runs": args.runs,
            "bare_s": [round(s, 3) for s in bare_s],
            "sandbox_s": [round(s, 3) for s in boxed_s],
            "bare_median_s": round(bare_median, 3),
            "sandbox_median_s": round(boxed_median, 3),
            "overhead_pct": round(overhead, 2),
            "target_pct": TARGET_PCT,
            "meets_target": overhead <= TARGET_PCT,
        },
        "start_latency": {
            "runs": args.latency_runs,
            "sandbox_p50_ms": round(1000 * percentile(first, 0.5), 1),
            "sandbox_p99_ms": round(1000 * percentile(first, 0.99), 1),
            "bare_python_p50_ms": round(1000 * percentile(bare_first, 0.5), 1),
            "bare_python_p99_ms": round(1000 * percentile(bare_first, 0.99), 1),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    training, start = report["training"], report["start_latency"]
    rows = [
        ("training median (s)", training["bare_median_s"], training["sandbox_median_s"]),
        ("start to first line p50 (ms)", start["bare_python_p50_ms"], start["sandbox_p50_ms"]),
        ("start to first line p99 (ms)", start["bare_python_p99_ms"], start["sandbox_p99_ms"]),
    ]
    print(f"\n{'':30}{'bare':>10}{'sandbox':>10}")
    for label, bare, boxed in rows:
        print(f"{label:30}{bare:>10.2f}{boxed:>10.2f}")
    verdict = "meets" if training["meets_target"] else "MISSES"
    print(f"overhead {training['overhead_pct']:+.2f}% ({verdict} the {TARGET_PCT:.0f}% target)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
