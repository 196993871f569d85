"""The README's plots: PNG files in bench/plots/, drawn with matplotlib (Agg) from chart specs.

A spec is plain data (JSON): ``kind`` ``lines`` (series of x and y, optional error bars) or ``cdf``
(series of values, drawn as their empirical distribution), with titles, labels and scales. The same
spec always gives the same picture: fixed size and resolution, matplotlib's default style, no
metadata that changes from run to run.

``plots.json`` beside the PNG files holds each plot's digest: the sha256 of its spec and of
:data:`STYLE`. A plot is drawn again only when its digest changed (new figures) or when asked
(``--redraw-plots``, after changing how plots are drawn: then bump :data:`STYLE`). So the README can be
checked against the results without matplotlib, and rerunning without new figures changes no file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench_readme.section import Chart

#: Bump when the drawing below changes, so that every plot is drawn again.
STYLE = 1
MANIFEST = "plots.json"
SIZE_INCHES = (6.4, 4.0)
DPI = 100


def digest(chart: Chart) -> str:
    text = json.dumps({"style": STYLE, "alt": chart.alt, "spec": chart.spec}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def stale(charts: Iterable[Chart], folder: Path) -> list[Chart]:
    """The charts whose PNG is missing or was drawn from other figures."""
    manifest = read_manifest(folder)
    return [
        c for c in charts if manifest.get(c.name) != digest(c) or not (folder / f"{c.name}.png").is_file()
    ]


def update(charts: Iterable[Chart], folder: Path, redraw: bool = False) -> list[str]:
    """Draw the stale charts (every one with ``redraw``), remove the plots no chart draws any more, and
    write the manifest. Returns the names drawn."""
    charts = list(charts)
    todo = charts if redraw else stale(charts, folder)
    folder.mkdir(parents=True, exist_ok=True)
    for chart in todo:
        draw(chart.spec, folder / f"{chart.name}.png")
    names = {c.name for c in charts}
    for name in set(read_manifest(folder)) - names:
        (folder / f"{name}.png").unlink(missing_ok=True)
    manifest = {c.name: digest(c) for c in sorted(charts, key=lambda c: c.name)}
    if read_manifest(folder) != manifest or not (folder / MANIFEST).is_file():
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return [c.name for c in todo]


def draw(spec: Mapping[str, Any], path: Path) -> None:
    """Draw one spec to a PNG file (imports matplotlib: the README alone does not need it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context():
        plt.style.use("default")
        figure, axes = plt.subplots(figsize=SIZE_INCHES, dpi=DPI)
        try:
            if spec["kind"] == "cdf":
                _cdf(axes, spec)
            else:
                _lines(axes, spec)
            axes.set_title(spec["title"], fontsize=11)
            axes.set_xlabel(spec["xlabel"])
            axes.set_ylabel(spec["ylabel"])
            _scale(axes, spec)
            axes.margins(y=0.1)
            axes.grid(True, alpha=0.3)
            axes.legend(fontsize=8, loc=spec.get("legend", "best"))
            figure.tight_layout()
            figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
        finally:
            plt.close(figure)


def _lines(axes: Any, spec: Mapping[str, Any]) -> None:
    colours = {}
    for s in spec["series"]:
        drawn = axes.errorbar(
            s["x"],
            s["y"],
            yerr=s.get("yerr"),
            label=s["label"],
            linestyle=s.get("linestyle", "-"),
            marker=s.get("marker", "o"),
            markersize=5,
            capsize=3 if s.get("yerr") else 0,
            color=colours.get(s.get("like")),
        )
        colours[s["label"]] = drawn.lines[0].get_color()
    for line in spec.get("hlines", ()):
        # A series or a reference line takes the colour of the series it belongs to ("like").
        colour = colours.get(line.get("like"), "grey")
        axes.axhline(line["y"], linestyle=":", color=colour, linewidth=1.2, label=line["label"])


def _cdf(axes: Any, spec: Mapping[str, Any]) -> None:
    for s in spec["series"]:
        values = sorted(s["values"])
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        axes.step(values, fractions, where="post", label=s["label"])
    for line in spec.get("vlines", ()):
        axes.axvline(line["x"], linestyle=":", color="grey", linewidth=1)


def _scale(axes: Any, spec: Mapping[str, Any]) -> None:
    import matplotlib.ticker

    xscale = spec.get("xscale", "linear")
    if xscale == "symlog":
        axes.set_xscale("symlog", linthresh=spec.get("linthresh", 1))
    else:
        axes.set_xscale(xscale)
    axes.set_yscale(spec.get("yscale", "linear"))
    if spec.get("xticks"):
        labels = spec.get("xticklabels") or [f"{t:g}" for t in spec["xticks"]]
        axes.set_xticks(spec["xticks"], labels)
        axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    if spec.get("ylim"):
        axes.set_ylim(*spec["ylim"])
