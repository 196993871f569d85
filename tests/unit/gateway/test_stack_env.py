"""How the local market wires the gateway: its settings, and its URL in the other services' settings."""

from __future__ import annotations

from datamarket.stack import Service, Stack, backend_env, gateway_env, provider_env
from gateway.settings import GatewaySettings


def market(tmp_path) -> Stack:
    stack = Stack(home=str(tmp_path), store=str(tmp_path / "store"),
                  contracts={"market": "0x" + "11" * 20, "payment_token": "0x" + "22" * 20})  # fmt: skip
    stack.services["chain"] = Service("chain", "http://127.0.0.1:8545")
    return stack


def test_the_gateway_serves_the_stack_s_store(tmp_path):
    stack = market(tmp_path)
    settings = GatewaySettings.load(env=gateway_env(stack))
    assert settings.store == stack.store


def test_the_services_learn_the_gateway_s_url_once_it_has_one(tmp_path):
    stack = market(tmp_path)
    assert "DATAMARKET_GATEWAY_URL" not in backend_env(stack)
    stack.services["gateway"] = Service("gateway", "http://127.0.0.1:8040")
    backend = backend_env(stack)
    assert backend["DATAMARKET_BACKEND_GATEWAY_URL"] == "http://127.0.0.1:8040"
    assert backend["DATAMARKET_GATEWAY_URL"] == "http://127.0.0.1:8040"
    assert provider_env(stack)["DATAMARKET_GATEWAY_URL"] == "http://127.0.0.1:8040"


def test_the_backend_reads_its_gateway_url(tmp_path):
    from backend.settings import BackendSettings

    stack = market(tmp_path)
    stack.services["gateway"] = Service("gateway", "http://127.0.0.1:8040")
    settings = BackendSettings.load(env=backend_env(stack))
    assert settings.gateway_url == "http://127.0.0.1:8040"
