"""A section of the README: one benchmark, its prose (a template in bench/sections/) and its figures.

A template has three parts: the command that reruns the benchmark; a line ``<!-- about -->`` and the
prose that says what it measures; a line ``<!-- figures -->`` and the figures part, prose with
``${name}`` placeholders that the section's ``fill`` computes from the results (tables, figures, the
recorded run's parameters). ``${plot_NAME}`` places the section's chart NAME. The command and the
about part have no placeholders; while the results are not recorded, the section shows the about part
alone (the script may not be in the repository yet either).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from bench_readme import generic
from bench_readme.results import Results

ABOUT_MARK, FIGURES_MARK = "<!-- about -->", "<!-- figures -->"


class TemplateError(Exception):
    """A template, or the section that fills it, is wrong: the generator's fault, never the results'."""


#: What a section's fill raises when a results file does not have the shape it reads.
SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, ZeroDivisionError)


@dataclass(frozen=True)
class Chart:
    """A plot: drawn to bench/plots/NAME.png from ``spec`` (see :mod:`bench_readme.plots`)."""

    name: str
    alt: str
    spec: Mapping[str, Any]


def _no_charts(results: Results) -> Sequence[Chart]:
    return ()


@dataclass(frozen=True)
class Section:
    template: str
    title: str
    script: str
    results: tuple[str, ...]
    measures: str
    fill: Callable[[Results], Mapping[str, str]]
    charts: Callable[[Results], Sequence[Chart]] = field(default=_no_charts)


@dataclass(frozen=True)
class SectionTemplate:
    rerun: str
    about: str
    figures: Template


@dataclass(frozen=True)
class Rendered:
    text: str
    charts: tuple[Chart, ...] = ()


def read_template(path: Path) -> SectionTemplate:
    text = path.read_text(encoding="utf-8")
    if text.count(ABOUT_MARK) != 1 or text.count(FIGURES_MARK) != 1:
        raise TemplateError(f"{path}: needs one line {ABOUT_MARK} and then one line {FIGURES_MARK}")
    rerun, rest = text.split(ABOUT_MARK)
    about, figures = rest.split(FIGURES_MARK)
    if Template(rerun).get_identifiers() or Template(about).get_identifiers():
        raise TemplateError(f"{path}: only the figures part has placeholders")
    return SectionTemplate(rerun.strip("\n"), about.strip("\n"), Template(figures.strip("\n")))


def _not_recorded(section: Section, results: Results) -> str:
    missing = [n for n in section.results if n not in results.files]
    unreadable = [f"`{n}` ({results.unreadable[n]})" for n in missing if n in results.unreadable]
    absent = [f"`{n}`" for n in missing if n not in results.unreadable]
    script = f"`{Path(section.script).name}`"
    lines = []
    if absent:
        lines.append(f"Not recorded yet: {script} writes {' and '.join(absent)} in `bench/results/`.")
    if unreadable:
        lines.append(f"Not readable: {', '.join(unreadable)}; {script} writes it again.")
    return " ".join(lines)


def _misshapen(section: Section, results: Results, error: Exception) -> str:
    reason = f"{type(error).__name__}: {error}"
    parts = [f"The recorded figures do not have the shape this section reads ({reason}); as recorded:"]
    for name in section.results:
        parts += [f"`bench/results/{name}`:", generic.listing(results[name])]
    return "\n\n".join(parts)


def _figures(section: Section, template: Template, results: Results) -> Rendered:
    values = dict(section.fill(results))
    charts = tuple(section.charts(results))
    placed = set(template.get_identifiers())
    for chart in charts:
        if f"plot_{chart.name}" not in placed:
            raise TemplateError(f"{section.template}: the template does not place chart {chart.name}")
        values[f"plot_{chart.name}"] = f"![{chart.alt}](plots/{chart.name}.png)"
    for key in placed:
        if key.startswith("plot_"):
            values.setdefault(key, "")  # a chart the figures cannot draw leaves its place empty
    if placed - values.keys():
        raise TemplateError(f"{section.template}: fill gives no {sorted(placed - values.keys())}")
    return Rendered(template.substitute(values), charts)


def render(section: Section, results: Results, templates: Path) -> Rendered:
    template = read_template(templates / f"{section.template}.md.tmpl")
    if not results.has(*section.results):
        heading = f"## {section.title} (`{Path(section.script).name}`)"
        return Rendered("\n\n".join([heading, template.about, _not_recorded(section, results)]))
    head = [f"## {section.title} (`{section.script}`)", f"```\n{template.rerun}\n```", template.about]
    try:
        figures = _figures(section, template.figures, results)
    except SHAPE_ERRORS as error:
        return Rendered("\n\n".join([*head, _misshapen(section, results, error)]))
    return Rendered("\n\n".join([*head, figures.text]), figures.charts)
