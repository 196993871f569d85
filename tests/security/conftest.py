"""The hostile-buyer suite (docs/privacy.md): every attack on the privacy promise that a buyer of a
compute-only dataset could try, each a test against a real local market (anvil, the embedded store,
the provider under gunicorn, a Redis-backed worker with bubblewrap), refused by the code it names.

The suite shares one market for the whole package: the compute tests' ``compute_market`` fixture,
re-exported here. Tests publish the datasets they need on it; they never rely on what another test
published or spent."""

from __future__ import annotations

from tests.integration.compute.conftest import compute_market

__all__ = ["compute_market"]
