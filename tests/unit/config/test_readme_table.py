"""The README's configuration table lists every variable the code reads, and nothing it does not."""

from __future__ import annotations

import re
from pathlib import Path

from backend.settings import BackendSettings
from compute_to_data.settings import WorkerSettings
from datamarket import environment
from gateway.settings import GatewaySettings
from provider.settings import ProviderSettings

README = Path(__file__).resolve().parents[3] / "README.md"


def table_variables() -> set[str]:
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.M))


def code_variables() -> set[str]:
    names = set(environment.VARIABLES)
    for cls in (ProviderSettings, WorkerSettings, BackendSettings, GatewaySettings):
        names |= {cls.env_name(name) for name in cls.specs()}
        names |= {cls.input_env_name(name) for name in cls.extra_inputs()}
        names.add(cls.CONFIG_ENV)
    return names


def test_every_variable_is_in_the_readme_table() -> None:
    missing = code_variables() - table_variables()
    assert not missing, f"add to README.md's Configuration table: {sorted(missing)}"


def test_the_table_names_no_variable_the_code_does_not_read() -> None:
    outside = {"PROMETHEUS_MULTIPROC_DIR"}  # read by the metrics library's multiprocess mode
    stale = table_variables() - code_variables() - outside
    assert not stale, f"README.md's Configuration table names variables nothing reads: {sorted(stale)}"
