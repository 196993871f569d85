"""The benchmarks' README (bench/README.md), written from the figures recorded in bench/results/.

``scripts/bench/report.py`` runs it. Every figure in the README comes from a results file; the prose of
each section is a template in bench/sections/, the targets and anchors are data in
:mod:`bench_readme.references`, and the plots (bench/plots/) are drawn with matplotlib from the same
figures.
"""
