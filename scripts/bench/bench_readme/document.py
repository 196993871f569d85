"""The whole README: the intro, the index of benchmarks, the machines, the targets' and anchors'
sources, then a section per benchmark and one per results file no section reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from bench_readme import catalog, compute, gas, generic, machines, privacy, service, storage
from bench_readme import references as ref
from bench_readme.markdown import NONE, table, wrap
from bench_readme.results import Results
from bench_readme.section import Chart, Section, render

#: Every benchmark the report knows, in the README's order.
SECTIONS: tuple[Section, ...] = (
    gas.SECTIONS
    + storage.SECTIONS
    + compute.SECTIONS
    + privacy.SECTIONS
    + catalog.SECTIONS
    + service.SECTIONS
)
TEMPLATES = Path(__file__).resolve().parents[3] / "bench" / "sections"


@dataclass(frozen=True)
class Document:
    text: str
    charts: tuple[Chart, ...]


def _files(names: tuple[str, ...], results: Results) -> str:
    recorded = [f"`bench/results/{n}`" for n in names if n in results.files]
    absent = [f"`{n}` (not recorded yet)" for n in names if n not in results.files]
    return ", ".join(recorded + absent)


def _index(results: Results, unknown: list[str]) -> str:
    rows = []
    for s in SECTIONS:
        script = f"`{s.script}`" if results.has(*s.results) else f"`{Path(s.script).name}`"
        rows.append([script, _files(s.results, results), s.measures])
    rows += [
        [NONE, f"`bench/results/{n}`", "no section reads it yet: its figures as recorded"] for n in unknown
    ]
    return table(["script", "results", "what it measures"], rows, left=3)


def _machines(results: Results) -> str:
    rows = [[f"`{name}`", machines.describe(data)] for name, data in results.files.items()]
    rows += [[f"`{name}`", f"not readable: {why}"] for name, why in results.unreadable.items()]
    return table(["results", "machine"], sorted(rows), left=2)


def _sources() -> str:
    return table(["figure", "beside", "source"], ref.LISTED, left=3)


def render_document(results: Results, templates: Path = TEMPLATES) -> Document:
    """The README for ``results``; the charts it links (to be drawn into bench/plots/)."""
    known = {name for s in SECTIONS for name in s.results}
    unknown = sorted(set(results.files) - known)
    intro = Template((templates / "intro.md.tmpl").read_text(encoding="utf-8")).substitute(
        index=_index(results, unknown), machines=_machines(results), sources=_sources()
    )
    parts, charts = [intro.strip("\n")], []
    for section in SECTIONS:
        rendered = render(section, results, templates)
        parts.append(rendered.text)
        charts += rendered.charts
    parts += [generic.section(name, results.files[name]) for name in unknown]
    unreadable = sorted(set(results.unreadable) - known)
    parts += [
        f"## {n.removesuffix('.json')}\n\n`bench/results/{n}` is {results.unreadable[n]}." for n in unreadable
    ]
    return Document(wrap("\n\n".join(parts)), tuple(charts))
