"""GPU training throughput of the `train_tabular` built-in, bare and inside the compute sandbox.

Usage: python3 scripts/bench/gpu_train.py [--rows 2000000] [--features 64] [--epochs 3] [--batch-size 4096]
                                          [--hidden 256] [--layers 2] [--dp] [--epsilon 8]
                                          [--no-sandbox] [--out DIR]

Generates a synthetic classification table (rows x features, integer-quantized values, labels from a
random two-layer teacher network) as a CSV in a temporary folder, then trains train_tabular on it with
`"device": "cuda"` twice: bare (the script, _job.py and _training.py in a fresh interpreter, the roots in
DATAMARKET_*_DIR) and inside the bubblewrap sandbox of compute_to_data/sandbox/ (`/data`, `/job`,
`/out`, one GPU bound in), the way a worker runs a job. Both throughputs are train_tabular's own
`samples_per_second` (the training loop only); the wall times include reading the CSV. --dp trains with
DP-SGD (Opacus) at --epsilon instead.

Needs python3 with torch (CUDA build), pandas, numpy and safetensors (and opacus for --dp); imports nothing
from this repository but compute_to_data.sandbox (standard library only). Without a GPU
(torch.cuda.is_available() is False) it says so and records {"gpu": false}. Records DIR/gpu_train.json, or
DIR/gpu_train_dp.json with --dp, ..._cpu.json with --cpu (default DIR: bench/results/); a run without
a GPU never overwrites figures a GPU run recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "compute_to_data" / "algorithms" / "train_tabular.py"
# The modules staged beside it (datamarket/builtins.py: the built-in's `modules`), copied here by hand so
# that this benchmark imports nothing more from the repository.
MODULES = tuple(ROOT / "compute_to_data" / "algorithms" / name for name in ("_job.py", "_training.py"))
RESULTS = ROOT / "bench" / "results"
CHUNK_ROWS = 250_000
TEST_FRACTION = 0.05


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_table(path: Path, rows: int, features: int, classes: int, seed: int) -> dict[str, Any]:
    """Synthetic table: int16-range quantized N(0, 1) features (x 100), labels from a random teacher."""
    import numpy as np

    rng = np.random.default_rng(seed)
    hidden = 32
    w1 = rng.standard_normal((features, hidden)).astype(np.float32) / np.sqrt(features)
    w2 = rng.standard_normal((hidden, classes)).astype(np.float32)
    names = [f"f{i}" for i in range(features)] + ["label"]
    started = time.perf_counter()
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        pa = pacsv = None
    writer = None
    with path.open("wb") as sink:
        if pa is None:
            sink.write((",".join(names) + "\n").encode())
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            x = rng.standard_normal((n, features), dtype=np.float32)
            labels = np.argmax(np.tanh(x @ w1) @ w2 + 0.3 * rng.standard_normal((n, classes)), axis=1)
            quantized = np.clip(np.round(x * 100), -32000, 32000).astype(np.int16)
            if pa is not None:
                columns = [pa.array(quantized[:, j]) for j in range(features)] + [
                    pa.array(labels.astype(np.int8))
                ]
                batch = pa.RecordBatch.from_arrays(columns, names=names)
                if writer is None:
                    writer = pacsv.CSVWriter(sink, batch.schema)
                writer.write_batch(batch)
            else:
                np.savetxt(sink, np.column_stack([quantized, labels]), fmt="%d", delimiter=",")
        if writer is not None:
            writer.close()
    return {
        "rows": rows,
        "features": features,
        "classes": classes,
        "bytes": path.stat().st_size,
        "writer": "pyarrow" if pa is not None else "numpy",
        "seconds": round(time.perf_counter() - started, 2),
    }


def stage(work: Path, table: Path, job: dict[str, Any]) -> tuple[Path, Path, Path]:
    """data/, job/ (params.json, algorithm/main.py and its modules) and out/ under `work`, readable by the
    sandbox's uid."""
    data, job_dir, out = work / "data", work / "job", work / "out"
    data.mkdir(parents=True)
    (job_dir / "algorithm").mkdir(parents=True)
    out.mkdir()
    os.link(table, data / table.name) if table.stat().st_dev == data.stat().st_dev else shutil.copy(
        table, data
    )
    shutil.copyfile(SCRIPT, job_dir / "algorithm" / "main.py")
    for module in MODULES:
        shutil.copyfile(module, job_dir / "algorithm" / module.name)
    (job_dir / "params.json").write_text(json.dumps(job))
    for folder in (work, data, job_dir, job_dir / "algorithm"):
        folder.chmod(0o755)
    for file in (data / table.name, job_dir / "params.json", *(job_dir / "algorithm").iterdir()):
        file.chmod(0o644)
    return data, job_dir, out


def summary(metrics: dict[str, Any], wall_s: float) -> dict[str, Any]:
    keys = ("device", "samples_per_second", "seconds", "total_seconds", "accuracy", "steps", "epochs")
    result = {key: metrics.get(key) for key in keys}
    result["wall_s"] = round(wall_s, 2)
    if metrics.get("dp"):
        result["epsilon_spent"] = metrics.get("epsilon_spent")
        # A DP run releases no exact count: the rate from its noisy row count (the expected samples).
        rows, seconds = metrics.get("rows_noisy"), metrics.get("seconds")
        if rows and seconds:
            result["samples_per_second"] = rows * (1 - TEST_FRACTION) * metrics["epochs"] / seconds
    return result


def run_bare(work: Path, table: Path, job: dict[str, Any]) -> dict[str, Any]:
    data, job_dir, out = stage(work, table, job)
    env = {
        k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "CUDA_VISIBLE_DEVICES", "TMPDIR")
    }
    env.update(
        DATAMARKET_DATA_DIR=str(data),
        DATAMARKET_JOB_DIR=str(job_dir),
        DATAMARKET_OUT_DIR=str(out),
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-I", str(job_dir / "algorithm" / "main.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}", "log_tail": (done.stdout + done.stderr)[-3000:]}
    return summary(json.loads((out / "metrics.json").read_text()), wall)


def first_gpu_minor() -> int | None:
    minors = sorted(int(p.name[6:]) for p in Path("/dev").glob("nvidia[0-9]*") if p.name[6:].isdigit())
    return minors[0] if minors else None


def run_sandboxed(work: Path, table: Path, job: dict[str, Any], gpu: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    try:
        from compute_to_data import sandbox
    except ImportError as exc:
        return {"error": f"compute_to_data.sandbox is not importable: {exc}"}
    try:
        sandbox.check_available()
    except sandbox.SandboxError as exc:
        return {"error": f"sandbox unavailable: {exc}"}
    minor = first_gpu_minor() if gpu else None
    if gpu and minor is None:
        return {"error": "no /dev/nvidia<N> device to bind into the sandbox"}
    data, job_dir, out = stage(work, table, job)
    limits = sandbox.Limits(
        wall_time_s=900,
        cpu_time_s=3600,
        memory_bytes=64 * sandbox.GIB,
        output_bytes=64 * sandbox.MIB,
        tmp_bytes=1 * sandbox.GIB,
        file_size_bytes=256 * sandbox.MIB,
        open_files=1024,
        processes=1024,
    )
    log_path = work / "logs.txt"
    spec = sandbox.SandboxSpec(
        argv=(sys.executable, "/job/algorithm/main.py"),
        data_dir=data,
        job_dir=job_dir,
        out_dir=out,
        log_path=log_path,
        limits=limits,
        gpus=(minor,) if minor is not None else (),
        name=f"gpu-bench-{os.getpid()}",
        python=Path(sys.executable),
    )
    sandbox.prepare_output(out, limits.output_bytes)
    try:
        started = time.perf_counter()
        result = sandbox.run(spec)
        wall = time.perf_counter() - started
        logs = log_path.read_text(errors="replace") if log_path.exists() else ""
        if result.exit_code != 0:
            return {
                "error": f"exit {result.exit_code}, signal {result.signal}, reason {result.reason}",
                "log_tail": logs[-3000:],
            }
        metrics = json.loads((out / "metrics.json").read_text())
    finally:
        sandbox.release_output(out)
    outcome = summary(metrics, wall)
    outcome["peak_memory_bytes"] = result.peak_memory_bytes
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dp", action="store_true", help="train with DP-SGD (needs opacus)")
    parser.add_argument("--epsilon", type=float, default=8.0)
    parser.add_argument("--no-sandbox", action="store_true", help="bare run only")
    parser.add_argument(
        "--cpu", action="store_true", help="train on the CPU (to try this script without a GPU)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the table goes (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for gpu_train.json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    record = args.out / ("gpu_train" + ("_dp" if args.dp else "") + ("_cpu" if args.cpu else "") + ".json")

    def no_gpu(entry: dict) -> int:
        # Figures a GPU machine recorded are kept: a run without a GPU only says there was none.
        try:
            kept = json.loads(record.read_text()).get("gpu") is True
        except (OSError, ValueError):
            kept = False
        if kept:
            print(f"{record} keeps the figures of an earlier run on a GPU")
        else:
            record.write_text(json.dumps(entry) + "\n")
        return 0

    try:
        import torch
    except ImportError as exc:
        print(f"torch is not importable ({exc}): no GPU benchmark")
        return no_gpu({"gpu": False, "reason": f"torch missing: {exc}", "recorded": now()})
    if not torch.cuda.is_available() and not args.cpu:
        print(f"no GPU visible to torch {torch.__version__}: nothing to measure")
        return no_gpu({"gpu": False, "torch": torch.__version__, "recorded": now()})

    gpu_name = "none (--cpu)" if args.cpu else torch.cuda.get_device_name(0)
    print(f"GPU: {gpu_name}; torch {torch.__version__}")
    params = {
        "target": "label",
        "model": "mlp",
        "hidden": args.hidden,
        "layers": args.layers,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "test_fraction": TEST_FRACTION,
    }
    features = args.features
    job = {
        "params": params,
        "epsilon": args.epsilon if args.dp else None,
        "delta": 1e-7 if args.dp else None,
        "device": "cpu" if args.cpu else "cuda",
        "files": ["/data/table.csv"],
        "seed": 1,
        # What a publisher declares for the table write_table makes: the label's classes, the features'
        # bounds (the int16 range they are quantized to).
        "declarations": {
            "columns": {
                **{f"f{i}": {"type": "numeric", "lower": -32000, "upper": 32000} for i in range(features)},
                "label": {"type": "categorical", "values": list(range(args.classes))},
            },
            "targets": ["label"],
            "min_category_count": 10,
            "max_categories": max(32, args.classes),
        },
    }
    result: dict[str, Any] = {
        "gpu": not args.cpu,
        "recorded": now(),
        "machine": {
            "gpu": gpu_name,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cpus": os.cpu_count(),
        },
        "params": params,
        "dp": args.dp,
        "epsilon": job["epsilon"],
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dm-gpu-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        table = work / "table.csv"
        result["table"] = write_table(table, args.rows, args.features, args.classes, seed=0)
        print(
            f"table: {args.rows} x {args.features}, {result['table']['bytes'] / 1e6:.0f} MB "
            f"in {result['table']['seconds']} s"
        )
        result["bare"] = run_bare(work / "bare", table, job)
        print(f"bare: {json.dumps(result['bare'])}", flush=True)
        if args.no_sandbox:
            result["sandbox"] = {"skipped": True}
        else:
            result["sandbox"] = run_sandboxed(work / "sandbox", table, job, gpu=not args.cpu)
            print(f"sandbox: {json.dumps(result['sandbox'])}", flush=True)
    bare, boxed = result["bare"].get("samples_per_second"), result["sandbox"].get("samples_per_second")
    if bare and boxed:
        result["sandbox_over_bare"] = round(boxed / bare, 3)
    result["seconds"] = round(time.perf_counter() - started, 1)

    print()
    print("| run | device | samples/s | training s | wall s |")
    print("|---|---|---|---|---|")
    for name in ("bare", "sandbox"):
        row = result[name]
        if "samples_per_second" in row:
            print(
                f"| {name} | {row['device']} | {row['samples_per_second']:,.0f} | {row['seconds']} "
                f"| {row['wall_s']} |"
            )
        else:
            print(f"| {name} | - | {row.get('error') or 'skipped'} | - | - |")
    record.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nrecorded in {record} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
