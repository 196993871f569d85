"""The report generator on small made-up results folders: its tables carry the recorded numbers, a
missing or unreadable file is said to be so, a file no section knows gets a section of its own, and
the same figures always give the same README (and plots that are drawn only when their figures
change)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from bench_readme import plots
from bench_readme.document import SECTIONS, render_document
from bench_readme.markdown import WIDTH, fixed, wrap
from bench_readme.results import load
from bench_readme.section import Section, TemplateError, render

from tests.unit.bench import figures
from tests.unit.bench.figures import write

REPORT = Path(__file__).resolve().parents[3] / "scripts" / "bench" / "report.py"


def readme(folder: Path) -> str:
    return render_document(load(folder)).text


def section_of(text: str, title: str) -> str:
    """The README's section whose heading starts with ``## title``."""
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def test_the_gas_table_carries_each_recorded_figure_beside_its_target_and_anchor(tmp_path):
    write(tmp_path, "gas.json", figures.GAS)
    gas = section_of(readme(tmp_path), "Gas")
    assert "| publish with fixed price | 123,457 | <= 180,000 | 1,494,608 |" in gas
    assert "| buy one datatoken | 99,999 | - | 262,937 |" in gas
    assert "| take a free datatoken (dispense) | 106,001 | - | 104,063 |" in gas
    # A key the table does not know yet is shown under its own name, not dropped.
    assert "| `a_new_operation` | 4,242 | - | - |" in gas
    # Operations the file does not record get no row.
    assert "metadata update" not in gas


def test_a_section_carries_the_recorded_run_its_machine_and_the_anchor(tmp_path):
    write(tmp_path, "indexer_freshness.json", figures.FRESHNESS)
    text = section_of(readme(tmp_path), "Catalog freshness")
    assert (
        "| an order's block to the API showing it (7 orders) | 0.31 s | 0.63 s | 0.95 s | <= 1 s (p50) |"
        in text
    )
    assert "polling every 0.5 s" in text
    assert "3 CPUs, Test CPU, Python 3.11.7" in text
    assert "Aquarius" in text


def test_the_new_services_sections_read_load_and_slow_clients(tmp_path):
    write(tmp_path, "load.json", figures.LOAD)
    write(tmp_path, "slow_clients.json", figures.SLOW_CLIENTS)
    document = render_document(load(tmp_path))
    loaded = section_of(document.text, "Load")
    assert (
        "| access (POST /api/v1/access) | 401 | 133.7 | 12.3 ms | 56.8 ms | 91.2 ms | 200: 400, 503: 1 |"
        in loaded
    )
    assert "17 clients for 3 s" in loaded
    assert "![Latency distribution of access and search under load](plots/load_latency.png)" in loaded
    slow = section_of(document.text, "Slow clients")
    assert "| sync (before) | 2 | - | - | 3 of 3 |" in slow
    assert "| gevent (now) | 2 | 3.2 ms | 9.6 ms | 0 of 20 |" in slow
    charts = {c.name: c for c in document.charts}
    assert charts["load_latency"].spec["series"][0]["values"] == figures.LOAD["access"]["sample_ms"]
    timed_out = [s for s in charts["slow_clients"].spec["series"] if s["label"].endswith("timed out")]
    assert [s["y"] for s in timed_out] == [[5000.0]]


def test_a_known_file_that_is_missing_is_reported_as_not_recorded(tmp_path):
    write(tmp_path, "gas.json", figures.GAS)
    document = render_document(load(tmp_path))
    loaded = section_of(document.text, "Load")
    assert loaded.startswith("\n## Load (`load.py`)")
    assert "Not recorded yet: `load.py` writes `load.json` in `bench/results/`." in loaded
    assert "| `load.py` | `load.json` (not recorded yet) |" in document.text
    # No command, no figures and no plot for what is not recorded.
    assert "```" not in loaded
    assert [c.name for c in document.charts] == []


def test_a_file_no_section_knows_gets_a_section_of_its_top_level_figures(tmp_path):
    write(tmp_path, "made_up.json", figures.MADE_UP)
    text = readme(tmp_path)
    raw = section_of(text, "made_up")
    assert "## made_up (`bench/results/made_up.json`)" in raw
    assert "| rows | 31,337 |" in raw
    assert "| ratio | 0.1235 |" in raw
    assert "| totals.peak_mib | 77.7 |" in raw
    assert "| csv | 10 | 0.625 |" in raw and "| dense_text | 10 | 0.875 |" in raw
    assert "| - | `bench/results/made_up.json` | no section reads it yet" in text
    assert "| `made_up.json` | 2 CPUs, Test CPU, Python 3.11.7 |" in text


def test_a_file_that_is_not_json_is_named_with_the_reason(tmp_path):
    (tmp_path / "made_up.json").write_text("{not json")
    (tmp_path / "gas.json").write_text("[1, 2")
    text = readme(tmp_path)
    assert "`bench/results/made_up.json` is not JSON (" in section_of(text, "made_up")
    assert "Not readable: `gas.json` (not JSON (" in section_of(text, "Gas")


def test_a_known_file_of_another_shape_is_listed_as_recorded_not_dropped(tmp_path):
    write(tmp_path, "indexer_freshness.json", {**figures.FRESHNESS, "p50_s": "fast"})
    text = section_of(readme(tmp_path), "Catalog freshness")
    assert "do not have the shape this section reads (TypeError: not a number: 'fast')" in text
    assert "| p50_s | fast |" in text and "| p90_s | 0.627 |" in text


def test_the_earlier_runs_stand_beside_the_recorded_ones(tmp_path):
    write(tmp_path, "gas.json", figures.GAS)
    write(tmp_path / "earlier", "gas.json", {"source": "a test", "figures": {"dispense": 85001}})
    gas = section_of(readme(tmp_path), "Gas")
    assert "cost 85,001 gas (`bench/results/earlier/gas.json`): this one costs 21,000 more." in gas


def test_the_same_figures_give_the_same_readme(tmp_path):
    for name, data in (
        ("gas.json", figures.GAS),
        ("load.json", figures.LOAD),
        ("raw.json", figures.MADE_UP),
    ):
        write(tmp_path, name, data)
    first = render_document(load(tmp_path))
    again = render_document(load(tmp_path))
    assert first == again
    write(tmp_path, "gas.json", {**figures.GAS, "buy": 99998})
    assert render_document(load(tmp_path)).text != first.text


def _report():
    spec = importlib.util.spec_from_file_location("bench_report_script", REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_draws_a_plot_only_when_its_figures_change(tmp_path, monkeypatch):
    drawn: list[str] = []

    def draw(spec, path):
        drawn.append(path.name)
        path.write_bytes(json.dumps(spec, sort_keys=True).encode())

    monkeypatch.setattr(plots, "draw", draw)
    results, out, folder = tmp_path / "results", tmp_path / "README.md", tmp_path / "plots"
    write(results, "slow_clients.json", figures.SLOW_CLIENTS)
    write(results, "load.json", figures.LOAD)
    args = ["--results", str(results), "--readme", str(out), "--plots", str(folder)]
    report = _report()
    assert report.main(args) == 0
    assert sorted(drawn) == ["load_latency.png", "slow_clients.png"]
    written = {p.name: p.read_bytes() for p in folder.iterdir()} | {"README": out.read_bytes()}

    assert report.main(args) == 0
    assert sorted(drawn) == ["load_latency.png", "slow_clients.png"]  # nothing drawn again
    assert {p.name: p.read_bytes() for p in folder.iterdir()} | {"README": out.read_bytes()} == written
    assert report.main([*args, "--check"]) == 0

    write(results, "load.json", {**figures.LOAD, "clients": 18})
    assert report.main([*args, "--check"]) == 1
    assert report.main(args) == 0
    assert drawn[2:] == ["load_latency.png"]

    # A plot whose figures are gone is removed with them.
    (results / "load.json").unlink()
    assert report.main(args) == 0
    assert not (folder / "load_latency.png").exists() and (folder / "slow_clients.png").exists()
    assert json.loads((folder / plots.MANIFEST).read_text()).keys() == {"slow_clients"}


def test_matplotlib_draws_the_same_png_from_the_same_figures(tmp_path):
    pytest.importorskip("matplotlib")
    write(tmp_path, "slow_clients.json", figures.SLOW_CLIENTS)
    (chart,) = render_document(load(tmp_path)).charts
    plots.draw(chart.spec, tmp_path / "a.png")
    plots.draw(chart.spec, tmp_path / "b.png")
    png = (tmp_path / "a.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == (tmp_path / "b.png").read_bytes()


def test_numbers_round_half_up_as_recorded_and_refuse_what_is_not_a_number():
    assert [fixed(0.0895, 3), fixed(0.285, 2), fixed(1038.5, 0), fixed(7, 1)] == [
        "0.090",
        "0.29",
        "1039",
        "7.0",
    ]
    assert fixed(float("nan"), 1) == "nan"
    with pytest.raises(TypeError, match="not a number"):
        fixed("12", 1)
    with pytest.raises(TypeError):
        fixed(True, 1)


def test_prose_is_wrapped_and_tables_and_code_are_not():
    long = " ".join(["word"] * 60)
    row = "| " + " | ".join(["cell"] * 40) + " |"
    code = "```\n" + long + "\n\n" + long + "\n```"
    text = wrap("\n\n".join([long, row, code, "- " + long]))
    assert row in text and code in text
    prose = text.split("\n\n")[0].split("\n")
    assert len(prose) > 1 and all(len(line) <= WIDTH for line in prose)
    assert " ".join(prose) == long
    assert text.split("```\n\n")[-1].split("\n")[1].startswith("  word")


def test_a_template_with_a_placeholder_outside_its_figures_is_refused(tmp_path):
    section = next(s for s in SECTIONS if s.template == "gas")
    (tmp_path / "gas.md.tmpl").write_text("cmd\n<!-- about -->\nabout ${oops}\n<!-- figures -->\n${table}\n")
    write(tmp_path / "results", "gas.json", figures.GAS)
    with pytest.raises(TemplateError, match="only the figures part"):
        render(section, load(tmp_path / "results"), tmp_path)
    lost = Section("gas", "Gas", "scripts/bench/gas.js", ("gas.json",), "", section.fill)
    (tmp_path / "gas.md.tmpl").write_text(
        "cmd\n<!-- about -->\nabout\n<!-- figures -->\n${table} ${unknown}\n"
    )
    with pytest.raises(TemplateError, match="unknown"):
        render(lost, load(tmp_path / "results"), tmp_path)
