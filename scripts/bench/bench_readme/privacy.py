"""Differential privacy: what DP-SGD costs in accuracy and buys against membership inference, and
sample and aggregate beside it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bench_readme import machines
from bench_readme import references as ref
from bench_readme.markdown import fixed, mean_std, percent, series, table
from bench_readme.results import Results
from bench_readme.section import Chart, Section


def _eps(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _dp_rows(summary: Sequence[Mapping[str, Any]], spread: bool) -> list[list[str]]:
    rows = []
    for s in summary:
        row = [
            s["dataset"],
            _eps(s["epsilon"]),
            *(
                mean_std(s[k], s.get(f"{k}_std") if spread else None)
                for k in ("accuracy", "mia_calibrated_advantage")
            ),
        ]
        if spread:
            spent = s.get("epsilon_spent")
            row += [
                f"{fixed(spent, 2)}" if spent is not None else "-",
                f"{fixed(s['dp_bound'], 3)}" if s["dp_bound"] else "-",
            ]
        rows.append(row)
    return rows


def _opacus() -> str:
    shown = [
        f"{fixed(accuracy, 2)}% " + ("without DP" if eps is None else f"at epsilon {eps:g}")
        for eps, accuracy in ref.OPACUS_MNIST.items()
    ]
    return f"Opacus on MNIST, for comparison ({ref.OPACUS_SOURCE}): {series(shown)}."


def dp_fill(results: Results) -> dict[str, str]:
    r = results["dp_utility.json"]
    c, summary = r["config"], r["summary"]
    bounded = [s for s in summary if s["epsilon"] is not None]
    epsilons = sorted({s["epsilon"] for s in bounded})
    bound = {s["epsilon"]: s["dp_bound"] for s in bounded}
    header = ["dataset", "epsilon", "test accuracy", "MIA advantage"]
    return {
        "hidden": str(c["hidden"]),
        "seeds": series(sorted({str(s["runs"]) for s in summary}), " or "),
        "plain": f"{c['without_dp']['epochs']} epochs, batches of {c['without_dp']['batch_size']}",
        "dp": (
            f"{c['with_dp']['epochs']} epochs, batches of {c['with_dp']['batch_size']}, learning rate "
            f"{c['with_dp']['lr']:g}, clipping norm {c['with_dp']['max_grad_norm']:g}, delta {r['delta']:g}"
        ),
        "bounds": series(f"{fixed(bound[e], 3)}" for e in epsilons)
        + f" at epsilon {series(_eps(e) for e in epsilons)}",
        "machine": machines.describe(r),
        "table": table([*header, "epsilon spent", "bound on any attack"], _dp_rows(summary, True), left=2),
        "opacus": _opacus(),
        "earlier": _earlier(results.earlier_run("dp_utility.json"), header),
    }


def _earlier(earlier: Mapping[str, Any] | None, header: list[str]) -> str:
    if earlier is None:
        return ""
    return (
        "An earlier run of the same script and settings, on `train_tabular` as it was before it used the "
        "publisher's declarations and released only a noisy row count (kept in "
        "`bench/results/earlier/dp_utility.json`), gave:\n\n"
        + table(header, _dp_rows(earlier["figures"]["summary"], False), left=2)
    )


def _by_dataset(summary: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for s in summary:
        grouped.setdefault(s["dataset"], []).append(s)
    return grouped


def _dp_line(rows: Sequence[Mapping[str, Any]], key: str, label: str) -> dict[str, Any]:
    points = sorted((s for s in rows if s["epsilon"] is not None), key=lambda s: s["epsilon"])
    return {
        "label": label,
        "x": [s["epsilon"] for s in points],
        "y": [s[key] for s in points],
        "yerr": [s.get(f"{key}_std") or 0 for s in points],
    }


def _no_dp(rows: Sequence[Mapping[str, Any]], key: str, dataset: str) -> list[dict[str, Any]]:
    return [
        {"y": s[key], "label": f"{dataset} without DP", "like": dataset} for s in rows if s["epsilon"] is None
    ]


def dp_charts(results: Results) -> list[Chart]:
    r = results["dp_utility.json"]
    grouped = _by_dataset(r["summary"])
    epsilons = sorted({s["epsilon"] for s in r["summary"] if s["epsilon"] is not None})
    anchor = sorted((e, a) for e, a in ref.OPACUS_MNIST.items() if e is not None)
    accuracy = {
        "kind": "lines",
        "title": f"DP-SGD (train_tabular): test accuracy against epsilon, delta {r['delta']:g}",
        "xlabel": "epsilon",
        "ylabel": "test accuracy (mean ± std over seeds)",
        "xscale": "log",
        "xticks": sorted({*epsilons, *(e for e, _ in anchor)}),
        "series": [_dp_line(rows, "accuracy", name) for name, rows in grouped.items()]
        + [
            {
                "label": "Opacus, MNIST (anchor)",
                "x": [e for e, _ in anchor],
                "y": [a / 100 for _, a in anchor],
                "linestyle": "--",
                "marker": "s",
            }
        ],
        "hlines": [h for name, rows in grouped.items() for h in _no_dp(rows, "accuracy", name)],
    }
    bound_points = sorted({(s["epsilon"], s["dp_bound"]) for s in r["summary"] if s["epsilon"] is not None})
    membership = {
        "kind": "lines",
        "title": "Membership inference (loss threshold) against epsilon",
        "xlabel": "epsilon",
        "ylabel": "attack advantage, TPR - FPR (mean ± std)",
        "xscale": "log",
        "xticks": epsilons,
        "series": [_dp_line(rows, "mia_calibrated_advantage", name) for name, rows in grouped.items()]
        + [
            {
                "label": "(epsilon, delta)-DP bound on any attack",
                "x": [e for e, _ in bound_points],
                "y": [b for _, b in bound_points],
                "linestyle": "--",
                "marker": "none",
            }
        ],
        "hlines": [
            h for name, rows in grouped.items() for h in _no_dp(rows, "mia_calibrated_advantage", name)
        ],
    }
    return [
        Chart("dp_accuracy", "DP-SGD test accuracy against epsilon", accuracy),
        Chart(
            "dp_membership", "Membership-inference advantage against epsilon, beside the DP bound", membership
        ),
    ]


SA_KEY = re.compile(r"sa_k(\d+)")


def _blocks(rows: Sequence[Mapping[str, Any]]) -> list[int]:
    return sorted({int(m.group(1)) for row in rows for m in map(SA_KEY.fullmatch, row) if m})


def sample_aggregate_fill(results: Results) -> dict[str, str]:
    r = results["sample_aggregate.json"]
    sa, rows = r["sample_aggregate"], r["table"]
    blocks = _blocks(rows)
    header = ["epsilon", *(f"sample and aggregate, k = {k}" for k in blocks), "DP-SGD `train_tabular`"]
    body = [
        [
            _eps(row["epsilon"]),
            *(mean_std(row[f"sa_k{k}"], row.get(f"sa_k{k}_std")) for k in blocks),
            mean_std(row["dp_sgd"], row.get("dp_sgd_std")),
        ]
        for row in rows
    ]
    low, high = sa["bounds"]
    return {
        "coordinates": str(sa["coordinates"]),
        "bounds": f"[{low:g}, {high:g}]",
        "draws": str(sa["noise_draws_per_run"]),
        "dataset": r["dataset"],
        "split": f"{percent(1 - r['test_fraction'])} to train, {percent(r['test_fraction'])} to test",
        "seeds": str(r["seeds"]),
        "machine": machines.describe(r),
        "table": table(header, body),
    }


def sample_aggregate_charts(results: Results) -> list[Chart]:
    r = results["sample_aggregate.json"]
    rows = sorted(r["table"], key=lambda row: row["epsilon"])
    x = [row["epsilon"] for row in rows]

    def line(key: str, label: str, style: str) -> dict[str, Any]:
        return {"label": label, "x": x, "y": [row[key] for row in rows],
                "yerr": [row.get(f"{key}_std") or 0 for row in rows], "linestyle": style}  # fmt: skip

    spec = {
        "kind": "lines",
        "title": f"Sample and aggregate beside DP-SGD, {r['dataset']}",
        "xlabel": "epsilon",
        "ylabel": "test accuracy (mean ± std over seeds)",
        "xscale": "log",
        "xticks": x,
        "series": [line(f"sa_k{k}", f"sample and aggregate, k = {k}", "-") for k in _blocks(rows)]
        + [line("dp_sgd", "DP-SGD train_tabular", "--")],
    }
    return [Chart("sample_aggregate", "Sample and aggregate beside DP-SGD: accuracy against epsilon", spec)]


SECTIONS = (
    Section(
        template="dp_utility",
        title="DP utility and membership inference",
        script="scripts/bench/dp_utility.py",
        results=("dp_utility.json",),
        measures="accuracy and membership inference of `train_tabular`, with and without DP",
        fill=dp_fill,
        charts=dp_charts,
    ),
    Section(
        template="sample_aggregate",
        title="Sample and aggregate beside DP-SGD",
        script="scripts/bench/sample_aggregate_utility.py",
        results=("sample_aggregate.json",),
        measures="sample and aggregate beside DP-SGD",
        fill=sample_aggregate_fill,
        charts=sample_aggregate_charts,
    ),
)
