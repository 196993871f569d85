"""The built-in algorithms' registry: name, script, whether DP, whether it may use a GPU (docs/compute.md).

Each built-in is a script in `datamarket/algorithms/` and the modules it imports from beside it
(`_job.py`, the job interface, for every built-in; `_training.py` too for the two training scripts).
:func:`stage` lays them out in the sandbox's algorithm folder: the script as `/job/algorithm/main.py`, each
module under its own name. The algorithm hash recorded in a built-in job's receipt (`hash(name)`) is the
sha256 of the canonical bundle of exactly those files (`datamarket.bundle`), the hash `datamarket
algorithm hash` gives for the staged folder.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from datamarket import bundle

ALGORITHMS_DIR = Path(__file__).resolve().parent / "algorithms"
JOB_INTERFACE = ALGORITHMS_DIR / "_job.py"
TRAINING_CORE = ALGORITHMS_DIR / "_training.py"


@dataclass(frozen=True)
class Builtin:
    name: str
    script: Path
    dp: bool  # accepts an epsilon (trains or releases under differential privacy)
    requires_epsilon: bool  # refuses to run without one
    gpu: bool  # may use a GPU when the job's environment is "gpu"
    description: str
    needs_target: bool = False  # trains on a label: runs only on a dataset that declares a target
    modules: tuple[Path, ...] = ()  # staged beside main.py under their own names


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            name="train_tabular",
            script=ALGORITHMS_DIR / "train_tabular.py",
            modules=(JOB_INTERFACE, TRAINING_CORE),
            dp=True,
            requires_epsilon=False,
            gpu=True,
            needs_target=True,
            description=(
                "MLP or logistic-regression classifier on one CSV table; DP-SGD (Opacus) when an epsilon is "
                "given. Outputs model.safetensors and metrics.json."
            ),
        ),
        Builtin(
            name="dp_stats",
            script=ALGORITHMS_DIR / "dp_stats.py",
            modules=(JOB_INTERFACE,),
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
            modules=(JOB_INTERFACE, TRAINING_CORE),
            dp=True,
            requires_epsilon=False,
            gpu=True,
            needs_target=True,
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


def stage(name: str, dest: Path) -> None:
    """Lay the built-in out in `dest` (created if missing): its script as main.py, its modules by name."""
    builtin = get(name)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(builtin.script, dest / bundle.ENTRY_POINT)
    for module in builtin.modules:
        shutil.copyfile(module, dest / module.name)


@functools.cache
def hash(name: str) -> str:  # shadows the builtin on purpose: `builtins.hash(name)`
    """sha256 (hex) of the canonical bundle of the built-in's staged files (:func:`stage`): the algorithm
    hash recorded in its receipts. Computed once per process."""
    get(name)  # the KeyError for an unknown name, before any folder is made
    with tempfile.TemporaryDirectory(prefix="builtin-") as folder:
        stage(name, Path(folder))
        return bundle.bundle_hash(bundle.pack(Path(folder)))


script_hash = hash
