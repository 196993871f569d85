from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from datamarket.chain import artifacts

ROOT = Path(__file__).resolve().parents[3]
PACKAGED = ROOT / "datamarket" / "chain" / "abi"
REBUILD = "run `npx hardhat compile && python scripts/export_abis.py` and commit datamarket/chain/abi/"


def hardhat_build_or_skip() -> Path:
    """The Hardhat build. Without it, skip locally; in CI (`make test` compiles first) fail."""
    build = ROOT / "artifacts"
    if not build.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but there is no Hardhat build at {build}: compile before testing")
        pytest.skip(f"no Hardhat build at {build} (run `npx hardhat compile`); CI runs this check")
    return build


@pytest.mark.parametrize("name", artifacts.EXPORTED)
def test_committed_abis_match_the_hardhat_build(name: str) -> None:
    hardhat_build_or_skip()
    exported = artifacts.from_hardhat(ROOT, name)
    committed = (PACKAGED / f"{name}.json").read_text()
    hint = ""
    if json.loads(committed)["abi"] == exported["abi"]:
        hint = (
            " (only the bytecode differs: if `hardhat coverage` ran last, artifacts/ holds its instrumented "
        )
        hint += "build; `npx hardhat compile` restores it, then rerun)"
    assert committed == artifacts.render(exported), (
        f"datamarket/chain/abi/{name}.json is stale{hint}: {REBUILD}"
    )


def test_nothing_else_is_packaged() -> None:
    assert sorted(p.stem for p in PACKAGED.glob("*.json")) == sorted(artifacts.EXPORTED)


@pytest.mark.parametrize("name", artifacts.EXPORTED)
def test_packaged_artifact_loads_with_bytecode(name: str) -> None:
    artifact = artifacts.load(name)
    assert artifact.name == name
    assert artifact.bytecode.startswith("0x") and len(artifact.bytecode) > 2
    bytes.fromhex(artifact.bytecode[2:])
    assert any(item["type"] == "function" for item in artifact.abi)
    assert artifacts.load(name) is artifact


def test_market_abi_has_the_client_surface() -> None:
    names = {item.get("name") for item in artifacts.load("DataMarket").abi}
    wanted = {
        "publish", "buy", "dispense", "startOrder", "buyAndOrder", "buyAndOrderWithPermit", "withdraw",
        "postComputeReceipts", "getDataset", "marketConfig", "earnings", "isQuoteUsed", "quoteDigest",
    }  # fmt: skip
    assert wanted <= names


def test_unknown_contract_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="HostileToken"):
        artifacts.load("HostileToken")


def test_render_is_canonical() -> None:
    exported = {"contractName": "X", "bytecode": "0x00", "abi": [{"type": "event", "name": "E"}]}
    text = artifacts.render(exported)
    assert text.endswith("}\n")
    assert json.loads(text) == exported
    assert text.index('"abi"') < text.index('"bytecode"') < text.index('"contractName"')
    assert artifacts.render(dict(reversed(list(exported.items())))) == text


def test_from_hardhat_keeps_only_what_is_exported(tmp_path: Path) -> None:
    target = tmp_path / "artifacts" / artifacts.SOURCES["Datatoken"] / "Datatoken.json"
    target.parent.mkdir(parents=True)
    hardhat = {
        "_format": "hh-sol-artifact-1",
        "contractName": "Datatoken",
        "abi": [],
        "bytecode": "0x60",
        "deployedBytecode": "0x61",
        "linkReferences": {},
    }
    target.write_text(json.dumps(hardhat))
    exported = {"contractName": "Datatoken", "abi": [], "bytecode": "60"}  # stored without 0x
    assert artifacts.from_hardhat(tmp_path, "Datatoken") == exported
