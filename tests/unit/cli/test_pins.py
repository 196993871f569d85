"""`datamarket pin ...` against the stand-in pinning service (answered in process, each answer checked
against the spec), and the client settings that name the service and its token."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from datamarket.cli import main
from datamarket.config import Secret
from datamarket.settings import load_settings
from datamarket.storage import pinning
from datamarket.storage.base import add_bytes
from datamarket.storage.embedded import EmbeddedStore
from tests.pinning_service import PinningStandIn
from tests.pinning_spec import check_answer
from tests.wsgi_adapter import WsgiAdapter

URL = "https://pinning.test"
TOKEN = "cli-5ecret-Token-abcdefghijklmnop"


@pytest.fixture
def network(tmp_path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "network", sync=False)


@pytest.fixture
def stand_in(tmp_path, network, monkeypatch) -> PinningStandIn:
    """The service at URL for every session the CLI opens; each request lets it move one step."""
    service = PinningStandIn([TOKEN], tmp_path, network)
    real_session = requests.Session

    class Stepping(WsgiAdapter):
        def send(self, request, **kwargs):
            service.step()
            return super().send(request, **kwargs)

    def session() -> requests.Session:
        made = real_session()
        made.mount(URL, Stepping(service.app, check=check_answer))
        return made

    monkeypatch.setattr(requests, "Session", session)
    monkeypatch.setattr(pinning, "POLL_FIRST", 0.001)
    for name in ("DATAMARKET_CONFIG", "DATAMARKET_RPC_URL", "DATAMARKET_MARKET", "DATAMARKET_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATAMARKET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATAMARKET_PIN_SERVICE_URL", URL)
    monkeypatch.setenv("DATAMARKET_PIN_SERVICE_TOKEN", TOKEN)
    return service


def run(*args: str, code: int = 0) -> dict:
    result = CliRunner().invoke(main, ["pin", *args, "--json"])
    assert result.exit_code == code, result.output
    assert TOKEN not in result.output + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_add_without_waiting_then_status_ls_and_rm(stand_in, network) -> None:
    cid = add_bytes(network, b"ciphertext " * 1000)
    added = run("add", cid, "--name", "survey", "--no-wait")["pins"]
    assert [(p["status"], p["pin"]["cid"], p["pin"]["name"]) for p in added] == [("queued", cid, "survey")]
    requestid = added[0]["requestid"]
    while run("status", requestid)["status"] != "pinned":
        pass  # each request lets the service move one step
    assert stand_in.pins[requestid].history == ["queued", "pinning", "pinned"]
    listed = run("ls")
    assert listed["count"] == 1 and listed["results"][0]["requestid"] == requestid
    assert run("ls", "--status", "failed")["count"] == 0
    assert run("rm", requestid) == {"requestid": requestid, "removed": True}
    assert run("status", requestid, code=1)["error"]["code"] == "pin_not_found"


def test_add_waits_until_pinned_and_shows_progress(stand_in, network) -> None:
    cid = add_bytes(network, b"more ciphertext")
    result = CliRunner().invoke(main, ["pin", "add", cid])
    assert result.exit_code == 0, result.output
    requestid = next(iter(stand_in.pins))
    assert f"{requestid}  pinned" in result.stdout
    progress = [line.split()[1] for line in result.stderr.splitlines() if line.startswith(requestid)]
    assert progress[-1] == "pinned" and set(progress) <= {"queued", "pinning", "pinned"}
    assert stand_in.store.has(cid)


def test_content_the_service_cannot_find_is_a_failed_pin(stand_in, tmp_path) -> None:
    cid = add_bytes(EmbeddedStore(tmp_path / "elsewhere"), b"only here")
    error = run("add", cid, code=1)["error"]
    assert error["code"] == "pin_failed" and "not on the IPFS network" in error["message"]
    assert error["details"]["cid"] == cid


def test_a_wrong_token_is_refused_and_never_printed(stand_in, network, monkeypatch) -> None:
    wrong = "wrong-Token-0123456789abcdef"
    monkeypatch.setenv("DATAMARKET_PIN_SERVICE_TOKEN", wrong)
    result = CliRunner().invoke(main, ["pin", "ls", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "pin_service_unauthorized"
    assert wrong not in result.output + result.stderr
    assert stand_in.requests == [("GET", "/pins", False)]


@pytest.mark.parametrize(
    ("args", "param"),
    [
        (("status", "has space"), "REQUESTID"),
        (("rm", "x" * 600), "REQUESTID"),
        (("add", "neither-a-cid-nor-an-address"), "CID_OR_DATASET"),
        (("add", "bafy", "--name", "n" * 256), "--name"),
        (("ls", "--before", "yesterday"), "--before"),
        (("ls", "--status", "done"), "--status"),
    ],
)
def test_bad_arguments_are_usage_errors_that_name_them(stand_in, args, param) -> None:
    error = run(*args, code=2)["error"]
    assert error["code"] == "usage_error" and error["details"]["param"] == param
    assert stand_in.requests == []


def test_without_a_service_the_error_names_the_variables(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DATAMARKET_HOME", str(tmp_path))
    for name in ("DATAMARKET_CONFIG", "DATAMARKET_PIN_SERVICE_URL", "DATAMARKET_PIN_SERVICE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    error = run("ls", code=1)["error"]
    assert error["code"] == "invalid_config"
    assert "DATAMARKET_PIN_SERVICE_URL and DATAMARKET_PIN_SERVICE_TOKEN" in error["message"]


def test_the_token_is_no_flag() -> None:
    for command in ("add", "ls", "status", "rm"):
        help_text = CliRunner().invoke(main, ["pin", command, "--help"]).output
        assert "--token" not in help_text


def test_the_token_comes_from_the_settings_file_or_the_environment(tmp_path) -> None:
    config = tmp_path / "client.toml"
    config.write_text(f'pin_service_url = "https://pins.example/psa"\npin_service_token = "{TOKEN}"\n')
    settings = load_settings(tmp_path, environ={"DATAMARKET_CONFIG": str(config)})
    assert settings.pin_service_url == "https://pins.example/psa"
    assert settings.pin_service_token == Secret(TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    environ = {"DATAMARKET_CONFIG": str(config), "DATAMARKET_PIN_SERVICE_TOKEN": "from-the-environment"}
    assert load_settings(tmp_path, environ=environ).pin_service_token == Secret("from-the-environment")
    config.write_text('pin_service_token = ""\n')
    assert load_settings(tmp_path, environ={"DATAMARKET_CONFIG": str(config)}).pin_service_token is None


def test_a_settings_file_url_that_is_not_a_string_is_a_config_error(tmp_path, monkeypatch) -> None:
    config = tmp_path / "client.toml"
    config.write_text(f'pin_service_url = 5\npin_service_token = "{TOKEN}"\n')
    monkeypatch.setenv("DATAMARKET_HOME", str(tmp_path))
    monkeypatch.setenv("DATAMARKET_CONFIG", str(config))
    for name in ("DATAMARKET_PIN_SERVICE_URL", "DATAMARKET_PIN_SERVICE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    error = run("ls", code=1)["error"]
    assert error["code"] == "invalid_config" and "DATAMARKET_PIN_SERVICE_URL" in error["message"]
