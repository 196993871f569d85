"""A small tabular dataset and its raw index, shared by the output-policy tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compute_to_data.policy import RawIndex

CITIES = ["paris", "london", "berlin", "rome", "new york"]


def make_frame(n: int = 200, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "name": [f"person{i:04d}" for i in rng.permutation(n)],
            "age": rng.integers(18, 80, n),
            "city": rng.choice(CITIES, n),
            "income": np.round(rng.uniform(1000, 9000, n), 2),
            "score": np.round(rng.normal(size=n), 6),
            "label": rng.integers(0, 2, n),
        }
    )


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Path:
    folder = tmp_path_factory.mktemp("data")
    frame.to_csv(folder / "train.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def index(data_dir: Path) -> RawIndex:
    return RawIndex.from_files([data_dir / "train.csv"])
