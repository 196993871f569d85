"""`datamarket publish`: its compute flags and its price, with the publishing itself faked."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from datamarket import cli
from datamarket.cli import context


@pytest.fixture
def publish_capture(tmp_path, monkeypatch):
    """``publish(*flags, as_json=True)`` runs `datamarket publish` on a small file: (result, request)."""
    captured = {}

    def publish_file(request, **kwargs):
        captured["request"] = request
        return SimpleNamespace(dataset="eip155:31337/0x1", publish_tx="0x2", metadata_cid="b3", data_cid="b4")

    settings = SimpleNamespace(payment_token="", provider_url="http://provider.test")
    provider = SimpleNamespace(info=lambda: {})
    monkeypatch.setattr(
        context, "connect", lambda dev_index: (settings, SimpleNamespace(w3=None), None, provider)
    )
    monkeypatch.setattr(context, "on_local_market", lambda: False)
    monkeypatch.setattr("datamarket.sdk.publish.publish_file", publish_file)
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")

    def publish(*flags: str, as_json: bool = True):
        captured.pop("request", None)
        args = ["publish", str(data), "--name", "d", "--payment-token", "native", *flags]
        result = CliRunner().invoke(cli.main, args + ["--json"] * as_json, prog_name="datamarket")
        return result, captured.get("request")

    return publish


def test_publish_compute_flags(publish_capture) -> None:
    digest = "AB" * 32
    result, request = publish_capture(
        "--compute-only",
        "--epsilon-budget",
        "10",
        "--trust-algorithm",
        digest,
        "--trust-algorithm",
        "0x" + "cd" * 32,
    )
    assert result.exit_code == 0, result.output
    assert request.compute and not request.download
    assert request.max_epsilon_per_job == 1.0 and request.epsilon_budget == 10
    assert request.trusted_algorithms == ("ab" * 32, "cd" * 32) and not request.allow_any_algorithm
    _, request = publish_capture("--epsilon-budget", "0.5", "--allow-any-algorithm")
    assert request.compute and request.download and request.max_epsilon_per_job == 0.5
    assert request.allow_any_algorithm
    _, request = publish_capture("--epsilon-budget", "4", "--max-epsilon-per-job", "2")
    assert request.max_epsilon_per_job == 2
    _, request = publish_capture()
    assert request.download and not request.compute


@pytest.mark.parametrize(
    ("flags", "exit_code"),
    [
        (["--trust-algorithm", "abc"], 2),
        (["--epsilon-budget", "-1"], 2),
        (["--compute-only"], 1),
        (["--epsilon-budget", "1", "--max-epsilon-per-job", "2"], 1),
        (["--epsilon-budget", "1", "--max-epsilon-per-job", "0"], 1),
        (["--epsilon-budget", "inf"], 1),
    ],
)
def test_publish_refuses_bad_compute_flags(publish_capture, flags, exit_code) -> None:
    result, request = publish_capture(*flags)
    assert result.exit_code == exit_code and request is None


def test_a_price_in_whole_units_reaches_the_request(publish_capture) -> None:
    result, request = publish_capture("--price", "2.5")
    assert result.exit_code == 0, result.output
    assert request.price == 25 * 10**17


@pytest.mark.parametrize("price", ["abc", "nan", "-1", "0.0000000000000000001"])
def test_a_bad_price_is_a_usage_error_naming_the_option(publish_capture, price) -> None:
    result, request = publish_capture("--price", price, as_json=False)
    assert (result.exit_code, request) == (2, None)
    assert result.stdout == ""
    assert result.stderr.startswith("Usage: datamarket publish [OPTIONS] FILE")
    assert "Error: Invalid value for '--price': price" in result.stderr
    assert "internal_error" not in result.output and "Traceback" not in result.output


def test_a_bad_price_with_json_is_a_json_usage_error(publish_capture) -> None:
    result, request = publish_capture("--price", "abc")
    assert (result.exit_code, request) == (2, None)
    assert json.loads(result.stdout) == {
        "error": {
            "code": "usage_error",
            "message": "Invalid value for '--price': price 'abc' is not a number",
            "details": {"param": "--price"},
        }
    }
