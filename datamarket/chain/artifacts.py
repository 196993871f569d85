"""Contract ABIs and bytecode, exported from the Hardhat build into this package.

The JSON files under ``abi/`` are committed, so the Python package works without Node. They are
written by ``scripts/export_abis.py`` after ``npx hardhat compile``; a test fails when they differ
from a fresh build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

#: Contracts whose ABI (and bytecode, for deployment) the package carries.
EXPORTED = ("DataMarket", "Datatoken", "MockERC20")

#: Where Hardhat puts each exported contract's artifact, relative to the repository root.
SOURCES = {
    "DataMarket": "contracts/DataMarket.sol",
    "Datatoken": "contracts/Datatoken.sol",
    "MockERC20": "contracts/test/MockERC20.sol",
}


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def load(name: str) -> Artifact:
    """The packaged artifact of contract ``name`` (one of ``EXPORTED``)."""
    if name not in EXPORTED:
        raise KeyError(f"no packaged artifact for contract {name!r}; known: {', '.join(EXPORTED)}")
    text = resources.files(__package__).joinpath("abi", f"{name}.json").read_text()
    data = json.loads(text)
    return Artifact(name=data["contractName"], abi=data["abi"], bytecode="0x" + data["bytecode"])


def from_hardhat(repo_root: Path, name: str) -> dict[str, Any]:
    """The exportable part of Hardhat's artifact for ``name``, as it is written into the package.

    The bytecode is kept as bare hex (no ``0x``), so no line of it reads like a 32-byte key."""
    path = repo_root / "artifacts" / SOURCES[name] / f"{name}.json"
    data = json.loads(path.read_text())
    bytecode = data["bytecode"].removeprefix("0x")
    return {"contractName": data["contractName"], "abi": data["abi"], "bytecode": bytecode}


def render(exported: dict[str, Any]) -> str:
    """The canonical text of an exported artifact (stable, so staleness is a plain comparison)."""
    return json.dumps(exported, indent=1, sort_keys=True) + "\n"
