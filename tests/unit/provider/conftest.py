"""A provider app on in-memory fakes: one dataset, published with a real metadata document whose
content key is wrapped to the provider's key, and helpers to order it and sign requests
(``scenario.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.provider_api import internal_errors
from tests.unit.provider.scenario import Scenario, make_scenario


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    s = make_scenario(tmp_path)
    yield s
    assert internal_errors(s.app) == 0, "a request reached the catch-all 500 handler"
