"""The job interface that every built-in shares: the roots, params.json and the publisher's declarations in
it, the log, the table, the exit status.

Not an algorithm itself: a module staged beside the entry script, as /job/algorithm/_job.py next to
/job/algorithm/main.py (datamarket/builtins.py, `stage`), which imports it by name (`from _job import
...`). It imports nothing from the repository, nor torch: the standard library, numpy and pandas only
(pyarrow when installed). See docs/compute.md, "The algorithm interface".
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd


class JobError(Exception):
    """A problem with the job's parameters or data: reported on stderr, exit status 2."""


def log(message: str) -> None:
    print(message, flush=True)


def progress(fraction: float) -> None:
    print(f"progress: {min(max(fraction, 0.0), 1.0):.3f}", flush=True)


def roots() -> tuple[Path, Path, Path]:
    """(data, job, out): /data, /job and /out, or the folders DATAMARKET_{DATA,JOB,OUT}_DIR name."""
    env = os.environ
    return (
        Path(env.get("DATAMARKET_DATA_DIR") or "/data"),
        Path(env.get("DATAMARKET_JOB_DIR") or "/job"),
        Path(env.get("DATAMARKET_OUT_DIR") or "/out"),
    )


def load_job(job_dir: Path) -> dict[str, Any]:
    path = job_dir / "params.json"
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JobError(f"{path} is missing") from exc
    except json.JSONDecodeError as exc:
        raise JobError(f"{path} is not valid JSON: {exc.msg}") from exc
    if not isinstance(job, dict):
        raise JobError("params.json must hold a JSON object")
    if not isinstance(job.get("params") or {}, dict):
        raise JobError("params.json: 'params' must be an object")
    return job


def resolve_file(name: str, data_dir: Path) -> Path:
    """A path of `files` ("/data/x.csv" inside the sandbox) mapped onto the data root in use."""
    path = Path(name)
    if path.is_absolute() and path.exists():
        return path
    parts = path.parts
    if path.is_absolute() and len(parts) > 2 and parts[1] == "data":
        return data_dir.joinpath(*parts[2:])
    return data_dir / path


def read_table(path: Path, *, use_pyarrow: bool = True) -> pd.DataFrame:
    """A CSV, TSV or Parquet file as a frame. CSVs go through pyarrow's multi-threaded reader when it is
    installed and `use_pyarrow` is true (what it cannot parse falls back to pandas' C parser)."""
    name = path.name.lower()
    sep = "\t" if name.endswith(".tsv") else ","
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if not use_pyarrow:
            return pd.read_csv(path, sep=sep, low_memory=False)
        try:
            import pyarrow  # noqa: F401  (optional: a much faster, multi-threaded CSV reader)
        except ImportError:
            return pd.read_csv(path, sep=sep, low_memory=False)
        try:
            return pd.read_csv(path, sep=sep, engine="pyarrow")
        except Exception:  # what pyarrow cannot parse, the C parser may
            return pd.read_csv(path, sep=sep, low_memory=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # ParserError and EmptyDataError are ValueErrors
        raise JobError(f"cannot read {path.name}: {type(exc).__name__}") from None


def number(params: dict[str, Any], key: str, default: float, *, minimum: float, integer: bool = False) -> Any:
    """params[key] (default when absent or null), a finite number >= minimum (an integer if asked)."""
    value = params.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JobError(f"params.{key} must be a number")
    if integer and int(value) != value:
        raise JobError(f"params.{key} must be an integer")
    if value < minimum:
        raise JobError(f"params.{key} must be at least {minimum}")
    return int(value) if integer else float(value)


# Params only the publisher sets, through the declarations (datamarket/metadata/declarations.py keeps the
# same list for the provider's check; this module may import nothing from the repository).
PUBLISHER_ONLY_PARAMS = ("classes", "bounds", "categories", "max_categories", "min_category_count")


def declarations(job: dict[str, Any]) -> dict[str, Any]:
    """The publisher's declarations that the worker put in params.json (from the metadata document,
    never from the buyer), defaults filled in. A buyer's param that only the publisher may set is
    refused: the provider refused it already, and this holds whoever wrote params.json."""
    params = job.get("params") or {}
    for key in PUBLISHER_ONLY_PARAMS:
        if key in params:
            raise JobError(f"params.{key} comes from the dataset's declarations, not from the job")
    declared = job.get("declarations") or {}
    if not isinstance(declared, dict):
        raise JobError("params.json: 'declarations' must be an object")
    columns = declared.get("columns") or {}
    if not isinstance(columns, dict):
        raise JobError("params.json: 'declarations.columns' must be an object")
    return {
        "columns": columns,
        "targets": list(declared.get("targets") or []),
        "min_category_count": int(declared.get("min_category_count") or 10),
        "max_categories": int(declared.get("max_categories") or 32),
    }


def declared_target(params: dict[str, Any], declared: dict[str, Any]) -> str:
    """The target the job asks for, which must be a declared target (default: the first one)."""
    targets = declared["targets"]
    if not targets:
        raise JobError("the dataset declares no target column")
    target = params.get("target") or targets[0]
    if target not in targets:
        raise JobError("params.target is not one of the dataset's declared targets")
    spec = declared["columns"].get(target) or {}
    if spec.get("type") != "categorical" or len(spec.get("values") or []) < 2:
        raise JobError("the declared target has no declared classes")
    return str(target)


def value_key(value: Any) -> str:
    """The text a declared value and a cell are compared by (an integral float and its int are one value),
    as datamarket.metadata.declarations.value_key."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


def run(main: Any) -> None:
    """Exit with main()'s status; a JobError is reported on stderr, exit status 2."""
    try:
        code = main()
    except JobError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        code = 2
    sys.exit(code)
