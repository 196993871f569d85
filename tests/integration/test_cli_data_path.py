"""`datamarket up`, `publish`, `buy`, `download`, `status` and `down` against a real local market."""

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from web3 import HTTPProvider, Web3

from datamarket.chain.market import Market
from datamarket.cli import main
from datamarket.storage.cid import CID

pytestmark = pytest.mark.integration


def _run(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _fail(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 1, result.output
    return json.loads(result.output.strip().splitlines()[-1])["error"]


def _catalog_names(backend_url: str):
    """A function that lists the names of the datasets the catalog's API answers, newest first."""

    def names() -> list:
        return [d["name"] for d in requests.get(backend_url + "/api/v1/datasets", timeout=5).json()["items"]]

    return names


@pytest.fixture
def market_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAMARKET_HOME", str(tmp_path / "market"))
    monkeypatch.delenv("DATAMARKET_PRIVATE_KEY", raising=False)
    yield tmp_path
    CliRunner().invoke(main, ["down"])


def test_publish_buy_download_round_trip(market_home):
    status = _run("up")
    assert status["chain_id"] == 31337
    running = {name for name, s in status["services"].items() if s["running"]}
    assert running == {"chain", "gateway", "provider", "worker", "indexer", "backend"}
    health = {name: s["health"] for name, s in _run("status")["services"].items()}
    assert health == dict.fromkeys(running, "healthy")
    source = market_home / "table.csv"
    source.write_text("a,b,label\n" + "".join(f"{i},{i * i % 7},{i % 2}\n" for i in range(200)))

    published = _run("publish", str(source), "--name", "squares", "--price", "2.5")
    assert published["dataset"].startswith("eip155:31337/0x")
    # The metadata document, as the content gateway serves it to any IPFS client: the block pinned.
    gateway = status["services"]["gateway"]["url"]
    block = requests.get(f"{gateway}/ipfs/{published['metadata_cid']}?format=raw", timeout=5)
    assert block.status_code == 200
    assert CID.parse(published["metadata_cid"]).matches(block.content)
    bought = _run("buy", published["dataset"])
    assert bought["tx"].startswith("0x")
    out = market_home / "out" / "table.csv"
    downloaded = _run("download", published["dataset"], "-o", str(out))
    assert downloaded["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert out.read_bytes() == source.read_bytes()
    # The catalog found it: the indexer that `up` started follows the chain, the API serves it.
    catalog = status["services"]["backend"]["url"] + "/api/v1/datasets"
    datatoken = published["dataset"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = requests.get(catalog, params={"q": "squares"}, timeout=5).json()["items"]
        if [(d["datatoken"], d["name"], d["order_count"]) for d in found] == [(datatoken, "squares", 1)]:
            break
        time.sleep(0.1)
    assert [(d["datatoken"], d["name"], d["order_count"]) for d in found] == [(datatoken, "squares", 1)]


def test_state_survives_down_and_up(market_home):
    first = _run("up")
    source = market_home / "one.csv"
    source.write_text("x,y\n1,2\n3,4\n")
    published = _run("publish", str(source), "--name", "tiny", "--free")
    names = _catalog_names(first["services"]["backend"]["url"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and names() != ["tiny"]:  # indexed, and its document fetched
        time.sleep(0.1)
    assert names() == ["tiny"]
    stopped = _run("down")
    assert not any(s["running"] for s in stopped["services"].values())
    assert {s["health"] for s in _run("status")["services"].values()} == {"stopped"}
    second = _run("up")
    assert second["contracts"] == first["contracts"]
    # The catalog kept its rows across the restart: the API answers them at once, from the database.
    assert _catalog_names(second["services"]["backend"]["url"])() == ["tiny"]
    # The dataset published before the restart is still on the chain and still downloadable.
    _run("buy", published["dataset"])
    downloaded = _run("download", published["dataset"], "-o", str(market_home / "one.out.csv"))
    assert downloaded["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_errors_are_one_json_object_with_a_code(market_home):
    _run("up")
    error = _fail("download", "0x" + "11" * 20, "-o", str(market_home / "x"))
    assert error["code"] == "chain_error"
    assert "not a dataset" in error["message"]
    empty = market_home / "empty.csv"
    empty.write_text("")
    error = _fail("publish", str(empty), "--name", "empty", "--price", "1")
    assert error["code"] == "unreadable_table"
    assert "empty.csv" in error["message"]
    not_csv = market_home / "noise.csv"
    not_csv.write_bytes(bytes(range(256)) * 4)
    assert _fail("publish", str(not_csv), "--name", "noise")["code"] == "unreadable_table"
    # A label with more distinct values than --max-categories is no label: refused, naming the column.
    table = market_home / "ids.csv"
    table.write_text("id,label\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    compute_only = ("--compute-only", "--epsilon-budget", "5")
    error = _fail("publish", str(table), "--name", "ids", *compute_only, "--target", "id")
    assert error["code"] == "publish_failed" and "'id'" in error["message"]
    missing = _fail("publish", str(table), "--name", "ids", *compute_only, "--target", "nope")
    assert missing["code"] == "publish_failed" and "'nope' is not in the table" in missing["message"]
    # The refused commands published nothing.
    status = _run("status")
    w3 = Web3(HTTPProvider(status["services"]["chain"]["url"]))
    assert Market(w3, status["contracts"]["market"]).dataset_count() == 0
    assert os.environ["DATAMARKET_HOME"] == str(market_home / "market")


def test_status_names_a_service_that_runs_but_does_not_answer(market_home):
    import os
    import signal

    status = _run("up")
    provider = status["services"]["provider"]["pid"]
    os.killpg(provider, signal.SIGSTOP)  # gunicorn's master and workers: alive, answering nothing
    try:
        stuck = _run("status")["services"]
    finally:
        os.killpg(provider, signal.SIGCONT)
    assert (stuck["provider"]["health"], stuck["provider"]["detail"]) == ("unhealthy", "does not answer")
    assert stuck["chain"]["health"] == "healthy" and stuck["backend"]["health"] == "healthy"
    assert stuck["worker"]["health"] == "unhealthy"  # it is asked through the provider
    assert _run("status")["services"]["provider"]["health"] == "healthy"


def test_a_recorded_pid_of_another_program_is_not_taken_for_a_service(market_home):
    import subprocess

    _run("up")
    stack_file = market_home / "market" / "stack.json"
    _run("down")
    # A stale record whose pid now belongs to some other program (as after a reboot).
    other = subprocess.Popen(["sleep", "30"])
    try:
        _wait_for_exec(other.pid, "sleep")
        data = json.loads(stack_file.read_text())
        data["services"]["chain"]["pid"] = other.pid
        stack_file.write_text(json.dumps(data))
        status = _run("status")
        assert status["services"]["chain"]["running"] is False
        _run("down")
        assert other.poll() is None, "down must not signal a process that is not the chain"
    finally:
        other.kill()
        other.wait()


def _wait_for_exec(pid: int, program: str, timeout: float = 10.0) -> None:
    """Until process ``pid`` runs ``program``: a process just started shows no command line, or its
    parent's, until its exec is done."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    deadline = time.monotonic() + timeout
    while Path(cmdline.read_bytes().split(b"\0")[0].decode()).name != program:
        assert time.monotonic() < deadline, f"{program} did not start within {timeout} s"
        time.sleep(0.01)


def test_invalid_prices_are_usage_errors(market_home):
    _run("up")
    source = market_home / "t.csv"
    source.write_text("a,b\n1,2\n")
    for price in ("nan", "inf", "-1", "abc"):
        result = CliRunner().invoke(main, ["publish", str(source), "--name", "t", "--price", price, "--json"])
        assert result.exit_code == 2, (price, result.output)
        assert "Traceback" not in result.output
        error = json.loads(result.stdout)["error"]
        assert (error["code"], error["details"]) == ("usage_error", {"param": "--price"}), price
        assert error["message"].startswith("Invalid value for '--price': price ")
