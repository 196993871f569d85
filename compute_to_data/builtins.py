"""The built-in algorithms' registry: name, script, whether DP, whether it may use a GPU (docs/compute.md).

Each built-in is one standalone script in `compute_to_data/algorithms/`, copied alone into the sandbox as
`/job/algorithm/main.py`. The algorithm hash recorded in a built-in job's receipt is the sha256 of that
script's bytes (`hash(name)`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

ALGORITHMS_DIR = Path(__file__).resolve().parent / "algorithms"


@dataclass(frozen=True)
class Builtin:
    name: str
    script: Path
    dp: bool  # accepts an epsilon (trains or releases under differential privacy)
    requires_epsilon: bool  # refuses to run without one
    gpu: bool  # may use a GPU when the job's environment is "gpu"
    description: str


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            name="train_tabular",
            script=ALGORITHMS_DIR / "train_tabular.py",
            dp=True,
            requires_epsilon=False,
            gpu=True,
            description=(
                "MLP or logistic-regression classifier on one CSV table; DP-SGD (Opacus) when an epsilon is "
                "given. Outputs model.safetensors and metrics.json."
            ),
        ),
        Builtin(
            name="dp_stats",
            script=ALGORITHMS_DIR / "dp_stats.py",
            dp=True,
            requires_epsilon=True,
            gpu=False,
            description=(
                "Differentially private count, clipped means and histograms of a table's numeric columns "
                "(Laplace mechanism). Outputs stats.json and metrics.json."
            ),
        ),
        Builtin(
            name="text_classifier",
            script=ALGORITHMS_DIR / "text_classifier.py",
            dp=True,
            requires_epsilon=False,
            gpu=True,
            description=(
                "Text classifier: all-MiniLM-L6-v2 sentence embeddings (offline) and a trained logistic-"
                "regression or MLP head, DP-SGD when an epsilon is given. Outputs model.safetensors and "
                "metrics.json."
            ),
        ),
    )
}


def get(name: str) -> Builtin:
    """The built-in called `name`; KeyError naming the known ones otherwise."""
    try:
        return BUILTINS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(BUILTINS))
        raise KeyError(f"unknown built-in algorithm {name!r} (known: {known})") from None


def hash(name: str) -> str:  # shadows the builtin on purpose: `builtins.hash(name)`
    """sha256 (hex) of the built-in's script bytes: the algorithm hash recorded in its receipts."""
    return hashlib.sha256(get(name).script.read_bytes()).hexdigest()


script_hash = hash
