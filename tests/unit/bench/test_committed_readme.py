"""bench/README.md and bench/plots/ are what the generator makes of the committed results, so nobody
edits them by hand. Needs no matplotlib: each plot's digest in plots.json names the figures it was
drawn from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bench_readme import plots
from bench_readme import references as ref
from bench_readme.document import render_document
from bench_readme.results import load

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench"
FIX = "run `make bench-report` (or .venv/bin/python scripts/bench/report.py) and commit bench/"


@pytest.fixture(scope="module")
def document():
    return render_document(load(BENCH / "results"))


def test_the_committed_readme_is_what_the_recorded_figures_give(document):
    assert (BENCH / "README.md").read_text(encoding="utf-8") == document.text, FIX


def test_every_committed_plot_was_drawn_from_the_recorded_figures(document):
    assert document.charts, "the DP figures alone give plots"
    assert plots.stale(document.charts, BENCH / "plots") == [], FIX
    linked = set(re.findall(r"\]\(plots/([\w-]+)\.png\)", document.text))
    assert linked == {c.name for c in document.charts}
    assert set(plots.read_manifest(BENCH / "plots")) == linked, FIX


def test_the_targets_are_those_the_scripts_record():
    results = load(BENCH / "results").files
    recorded = {
        ref.CID_VS_SHA256: results["cid.json"]["target"] * 100,
        ref.JOB_START_P50_S: results["job_start.json"]["target_p50_s"],
        ref.INDEXER_EVENTS_PER_S: results["indexer_catchup.json"]["target_events_per_s"],
        ref.FRESHNESS_P50_S: results["indexer_freshness.json"]["target_p50_s"],
        ref.SEARCH_P50_MS: results["catalog_search.json"]["target_p50_ms"],
        ref.SANDBOX_OVERHEAD_PCT: results["sandbox_overhead.json"]["training"]["target_pct"],
    }
    for target, value in recorded.items():
        assert target.value == pytest.approx(value), target.source
