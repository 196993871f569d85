"""Writes bench/README.md from the figures recorded in bench/results/, and its plots in bench/plots/.

    .venv/bin/python scripts/bench/report.py [--results DIR] [--readme FILE] [--plots DIR]
        [--redraw-plots | --no-plots] [--check]

A plot is drawn again only when the figures it shows changed (``bench/plots/plots.json`` holds what
each was drawn from), so a rerun without new figures changes no file. ``--check`` writes nothing: it
exits 1 when the README or a plot is not what the recorded figures give.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench_readme import plots
from bench_readme.document import render_document
from bench_readme.results import load

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--readme", type=Path, default=ROOT / "bench" / "README.md")
    parser.add_argument("--plots", type=Path, default=ROOT / "bench" / "plots")
    drawing = parser.add_mutually_exclusive_group()
    drawing.add_argument("--redraw-plots", action="store_true", help="draw every plot, changed or not")
    drawing.add_argument("--no-plots", action="store_true", help="write the README only")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is stale")
    args = parser.parse_args(argv)

    document = render_document(load(args.results))
    if args.check:
        stale = [] if _current(args.readme, document.text) else [str(args.readme)]
        stale += [f"{args.plots / c.name}.png" for c in plots.stale(document.charts, args.plots)]
        for path in stale:
            print(f"not what the recorded figures give: {path} (run make bench-report)", file=sys.stderr)
        return 1 if stale else 0
    if not _current(args.readme, document.text):
        args.readme.write_text(document.text, encoding="utf-8")
        print(f"wrote {args.readme}")
    if not args.no_plots:
        for name in plots.update(document.charts, args.plots, redraw=args.redraw_plots):
            print(f"drew {args.plots / name}.png")
    return 0


def _current(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
