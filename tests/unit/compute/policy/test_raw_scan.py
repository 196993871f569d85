"""The raw-row scan: normalization, tokenization, row and run matches, tensors, false positives."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compute_to_data.policy import PolicyLimits, RawIndex, canonical_number, normalize_token, tokenize

from .conftest import make_frame

# -- normalization and tokens -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [("5.10", "5.1"), ("7", "7.0"), ("7", "7.000"), ("-0.0", "0"), ("1e3", "1000"), (" Paris ", "paris")],
)
def test_normalized_equal(a: str, b: str) -> None:
    assert normalize_token(a) == normalize_token(b)


def test_numbers_are_canonical() -> None:
    assert canonical_number(5) == "5"
    assert canonical_number(5.25) == "5.25"
    assert canonical_number(3.14159265) == "3.141593"  # what pandas prints
    assert canonical_number(float("nan")) is None
    assert canonical_number(float("inf")) is None
    assert canonical_number(10**400) == str(10**400)


def test_tokenize_splits_and_drops_nulls() -> None:
    text = "a,b;c|d\te \"f\" 'g' [h] {i} (j) k:l m=n NaN None null <NA> np.int64(5) np.str_('x')"
    assert tokenize(text) == [*"abcdefghijklmn", "5", "x"]
    assert tokenize("") == []


# -- rows -------------------------------------------------------------------------------------------


def _row(frame: pd.DataFrame, i: int) -> list:
    """Row ``i`` as plain Python values."""
    return [v.item() if isinstance(v, np.generic) else v for v in frame.iloc[i].tolist()]


def test_row_printed_as_python_list(index: RawIndex, frame: pd.DataFrame) -> None:
    match = index.match_text(f"sample: {_row(frame, 17)}")
    assert match is not None
    assert (match.kind, match.source, match.row, match.column) == ("row", "train.csv", 17, None)


def test_row_printed_with_numpy_scalars(index: RawIndex, frame: pd.DataFrame) -> None:
    assert index.match_text(str(list(frame.iloc[3].values))).row == 3  # [np.int64(34), ...]


def test_row_as_csv_line(index: RawIndex, frame: pd.DataFrame) -> None:
    line = frame.iloc[[42]].to_csv(index=False, header=False)
    assert index.match_text(f"loss 0.3\n{line}done").row == 42


def test_row_with_other_number_spelling(index: RawIndex, frame: pd.DataFrame) -> None:
    row = _row(frame, 8)
    spelled = [f"{v:.8f}" if isinstance(v, float) else v for v in row]  # 1234.5 -> 1234.50000000
    spelled[1] = f"{row[1]}.0"
    assert index.match_text(" ".join(map(str, spelled))).row == 8


def test_row_in_json_array(index: RawIndex, frame: pd.DataFrame) -> None:
    assert index.match_text(json.dumps({"rows": [_row(frame, 5)]})).row == 5


def test_rows_as_json_records(index: RawIndex, frame: pd.DataFrame) -> None:
    text = frame.iloc[60:62].to_json(orient="records")
    assert index.match_text(text).row == 60  # the column-name keys are dropped from the stream


def test_row_printed_as_series(index: RawIndex, frame: pd.DataFrame) -> None:
    assert index.match_text(str(frame.iloc[9])).row == 9


def test_dataframe_to_string_with_index(index: RawIndex, frame: pd.DataFrame) -> None:
    match = index.match_text(frame.iloc[100:103].to_string())
    assert match is not None and match.row == 100


def test_row_hidden_as_json_string_values(index: RawIndex, frame: pd.DataFrame) -> None:
    as_strings = [str(v) for v in _row(frame, 11)]
    assert index.match_text(json.dumps({"v": as_strings})).row == 11
    assert index.match_text(json.dumps({"note": ", ".join(as_strings)})).row == 11


def test_partial_or_reordered_row_is_not_a_match(index: RawIndex, frame: pd.DataFrame) -> None:
    row = _row(frame, 12)
    assert index.match_text(str(row[:-1])) is None
    assert index.match_text(str(row[::-1])) is None


def test_find_row_returns_the_token_position(index: RawIndex, frame: pd.DataFrame) -> None:
    tokens = ["epoch", "3", *[str(v) for v in _row(frame, 30)], "end"]
    assert index.find_row(tokens) == 2
    assert index.find_row(["epoch", "3"]) is None


def test_match_tokens_position(index: RawIndex, frame: pd.DataFrame) -> None:
    match = index.match_tokens(["x", "y", *_row(frame, 31)])
    assert (match.kind, match.row, match.position) == ("row", 31, 2)


# -- runs -------------------------------------------------------------------------------------------


def test_run_of_a_high_cardinality_column(index: RawIndex, frame: pd.DataFrame) -> None:
    names = frame["name"].tolist()
    match = index.match_text(str(names[50:58]))
    assert (match.kind, match.column, match.row) == ("run", "name", 50)
    assert index.find_run(names[50:58]) == ("name", 50)
    assert index.find_run([str(v) for v in frame["income"].tolist()[120:130]]) == ("income", 120)


def test_short_or_shuffled_runs_do_not_match(index: RawIndex, frame: pd.DataFrame) -> None:
    names = frame["name"].tolist()
    assert index.match_text(str(names[50:57])) is None  # 7 < run_length
    shuffled = [names[i] for i in (50, 52, 51, 53, 55, 54, 56, 57)]
    assert index.match_text(str(shuffled)) is None
    assert index.find_run(names[50:57]) is None


def test_low_cardinality_columns_have_no_runs(index: RawIndex, frame: pd.DataFrame) -> None:
    assert index.match_text(str(frame["label"].tolist()[:40])) is None
    assert index.match_text(str(frame["city"].tolist()[:40])) is None


def test_arithmetic_runs_do_not_count(tmp_path: Path) -> None:
    frame = make_frame()
    frame.insert(0, "id", range(len(frame)))
    frame.to_csv(tmp_path / "d.csv", index=False)
    index = RawIndex.from_files([tmp_path / "d.csv"])
    assert index.match_text(json.dumps({"epochs": list(range(20)), "bins": list(range(0, 100, 10))})) is None
    assert index.match_text(str(frame["name"].tolist()[:8])).kind == "run"


def test_run_length_is_configurable(data_dir: Path, frame: pd.DataFrame) -> None:
    index = RawIndex.from_files([data_dir / "train.csv"], limits=PolicyLimits(run_length=4))
    assert index.find_run(frame["name"].tolist()[10:14]) == ("name", 10)


# -- no false positives on aggregates ---------------------------------------------------------------


def test_aggregates_are_not_matches(index: RawIndex, frame: pd.DataFrame) -> None:
    texts = [
        frame.describe().to_string(),
        frame.describe(include="all").to_string(),
        frame.groupby("city").mean(numeric_only=True).to_string(),
        frame.groupby(["city", "label"]).size().to_string(),
        pd.crosstab(frame["city"], frame["label"]).to_string(),
        frame["label"].value_counts().to_string(),
        frame.select_dtypes("number").corr().to_string(),
        json.dumps({"histogram": {str(k): int(v) for k, v in frame["label"].value_counts().items()}}),
        json.dumps({"mean_income": float(frame["income"].mean()), "count": len(frame), "n_classes": 2}),
        json.dumps({"quantiles": frame["age"].quantile([0.1, 0.25, 0.5, 0.75, 0.9]).tolist()}),
        "\n".join(f"epoch {i} loss {1 / (i + 1):.4f} accuracy {0.5 + i / 100:.3f}" for i in range(50)),
        "progress: 0.5\nprogress: 1.0\n",
    ]
    for text in texts:
        assert index.match_text(text) is None, text


# -- other datasets ---------------------------------------------------------------------------------


def test_text_dataset_lines(tmp_path: Path) -> None:
    lines = [f"the patient number {i} reported a mild headache on day {i % 7}" for i in range(30)]
    (tmp_path / "notes.txt").write_text("\n\n".join([*lines, "short line"]) + "\n")
    index = RawIndex.from_files([tmp_path / "notes.txt"])
    match = index.match_text(f"example: {lines[12]} (end)")
    assert (match.kind, match.source, match.row) == ("line", "notes.txt", 12)
    assert index.match_text("short line") is None
    assert index.match_text("the patient reported a mild headache") is None


def test_long_unique_text_cells(tmp_path: Path) -> None:
    reviews = [f"review {i}: the product broke after {i + 2} days, would not buy again" for i in range(40)]
    frame = pd.DataFrame({"text": reviews, "stars": [i % 5 + 1 for i in range(40)]})
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    index = RawIndex.from_files([tmp_path / "reviews.csv"])
    match = index.match_text(f"misclassified: {reviews[7]}")
    assert (match.kind, match.column, match.row) == ("cell", "text", 7)


def test_small_dataset_is_protected(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": list("abcdefghij"), "age": range(30, 40), "sick": [0, 1] * 5})
    frame.to_csv(tmp_path / "tiny.csv", index=False)
    index = RawIndex.from_files([tmp_path / "tiny.csv"])
    assert index.match_text(str(frame.iloc[4].tolist())).row == 4


def test_several_files_report_their_source(tmp_path: Path) -> None:
    make_frame(50, seed=1).to_csv(tmp_path / "a.csv", index=False)
    b = make_frame(50, seed=2)
    b.to_csv(tmp_path / "b.tsv", index=False, sep="\t")
    index = RawIndex.from_files([tmp_path / "a.csv", tmp_path / "b.tsv"])
    match = index.match_text(str(b.iloc[20].tolist()))
    assert (match.source, match.row) == ("b.tsv", 20)


def test_binary_inputs_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    index = RawIndex.from_files([tmp_path / "blob.bin"])
    assert index.skipped and index.match_text("anything at all") is None


def test_max_rows_truncates(tmp_path: Path) -> None:
    frame = make_frame(100)
    frame.to_csv(tmp_path / "d.csv", index=False)
    index = RawIndex.from_files([tmp_path / "d.csv"], max_rows=50)
    assert index.truncated
    assert index.match_text(str(frame.iloc[10].tolist())) is not None
    assert index.match_text(str(frame.iloc[80].tolist())) is None


def test_empty_index_matches_nothing() -> None:
    index = RawIndex.from_files([])
    assert index.match_text("a b c 1 2 3") is None
    assert index.match_tensor(np.arange(10, dtype=np.float32)) is None


# -- tensors ----------------------------------------------------------------------------------------


def test_tensor_holding_training_rows(index: RawIndex, frame: pd.DataFrame) -> None:
    features = frame[["age", "income", "score"]].to_numpy(np.float32)
    match = index.match_tensor(features)
    assert match is not None and match.kind == "tensor_row" and match.row == 0
    assert index.match_tensor(frame[["income", "score"]].to_numpy(np.float64)[40:]).row == 40


def test_tensor_holding_a_column(index: RawIndex, frame: pd.DataFrame) -> None:
    match = index.match_tensor(frame["income"].to_numpy(np.float32)[30:60])
    assert (match.kind, match.column, match.row) == ("tensor_run", "income", 30)


def test_weights_and_derived_values_are_not_matches(index: RawIndex, frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    assert index.match_tensor(rng.normal(size=100_000).astype(np.float32)) is None
    assert index.match_tensor(np.zeros(1000, dtype=np.float32)) is None
    assert index.match_tensor(np.eye(16, dtype=np.float32)) is None
    assert index.match_tensor(np.arange(100, dtype=np.float64)) is None
    numeric = frame[["age", "income", "score"]].to_numpy(np.float64)
    assert index.match_tensor((numeric - numeric.mean(0)) / numeric.std(0)) is None
    assert index.match_tensor(numeric.mean(0)) is None


# -- performance ------------------------------------------------------------------------------------


def test_performance_sanity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a timing assertion: builds a 100k-row index and scans a 1 MiB log and a large JSON."""
    n = 100_000
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "user": [f"user{i}" for i in rng.permutation(n)],
            "age": rng.integers(18, 90, n),
            "city": rng.choice(["paris", "london", "new york", "tokyo"], n),
            "income": np.round(rng.uniform(1000, 9000, n), 2),
            "score": rng.normal(size=n),
            "flag": rng.integers(0, 2, n),
            "label": rng.integers(0, 2, n),
        }
    )
    frame.to_csv(tmp_path / "big.csv", index=False)
    timings = {}
    start = time.perf_counter()
    index = RawIndex.from_files([tmp_path / "big.csv"])
    timings["build"] = time.perf_counter() - start
    log = "\n".join(f"epoch {i} loss {rng.random():.4f} step {i * 10} lr 0.001" for i in range(30_000))
    log = log[: 1 << 20]
    start = time.perf_counter()
    assert index.match_text(log) is None
    timings["log_1mib"] = time.perf_counter() - start
    start = time.perf_counter()
    assert index.match_text(log + "\n" + frame.iloc[5000:5003].to_string()).row == 5000
    timings["log_with_rows"] = time.perf_counter() - start
    doc = json.dumps({"coef": rng.normal(size=100_000).tolist()})
    start = time.perf_counter()
    assert index.match_text(doc) is None
    timings["json_2mib"] = time.perf_counter() - start
    start = time.perf_counter()
    assert index.match_tensor(rng.normal(size=2_000_000).astype(np.float32)) is None
    timings["tensor_2m"] = time.perf_counter() - start
    with capsys.disabled():
        print("\npolicy scan timings (s):", {k: round(v, 3) for k, v in timings.items()})
