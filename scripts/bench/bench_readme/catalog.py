"""The catalog: the indexer catching up, an order reaching the API, search."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench_readme import machines
from bench_readme import references as ref
from bench_readme.markdown import NONE, fixed, number, table
from bench_readme.results import Results
from bench_readme.section import Section

DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def catchup_fill(results: Results) -> dict[str, str]:
    r = results["indexer_catchup.json"]
    names = {"sqlite": "SQLite (WAL)", "postgresql": "PostgreSQL"}
    rows = [
        [
            names.get(db, db),
            number(x["events"]),
            f"{fixed(x['seconds'], 1)}",
            number(x["events_per_s"]),
            f"{fixed(x['peak_rss_mib'], 0)} MiB",
            str(ref.INDEXER_EVENTS_PER_S),
        ]
        for db, x in r["results"].items()
    ]
    return {
        "events": number(r["events_on_chain"]),
        "machine": machines.describe(r),
        "table": table(["database", "events", "seconds", "events per second", "peak memory", "target"], rows),
        **_tuning(results.earlier_run("indexer_catchup.json")),
    }


def _tuning(earlier: Mapping[str, Any] | None) -> dict[str, str]:
    """The figures measured while the catch-up was tuned, which its script does not record."""
    if earlier is None:
        return dict.fromkeys(("fill", "profile", "one_batch", "earlier"), "")
    return {
        "fill": f"; {earlier['fill_s']} s to fill",
        "profile": f": {number(earlier['first_profile_in_process_events_per_s'])} events/s in process",
        "one_batch": f": {earlier['one_batch_whole_chain_peak_rss_mib']} MiB",
        "earlier": "These three figures are kept in `bench/results/earlier/indexer_catchup.json`: "
        f"{earlier['source']}.",
    }


def freshness_fill(results: Results) -> dict[str, str]:
    r = results["indexer_freshness.json"]
    rows = [
        [
            f"an order's block to the API showing it ({r['orders']} orders)",
            f"{fixed(r['p50_s'], 2)} s",
            f"{fixed(r['p90_s'], 2)} s",
            f"{fixed(r['max_s'], 2)} s",
            str(ref.FRESHNESS_P50_S) + " (p50)",
            str(ref.OCEAN_FRESHNESS),
        ]
    ]
    return {
        "poll": f"every {r['poll_interval_s']:g} s",
        "confirmations": str(r["confirmations"]),
        "database": DATABASES.get(r["database"], r["database"]),
        "machine": machines.describe(r),
        "table": table(["what", "p50", "p90", "max", "target", "Ocean"], rows),
    }


KINDS = {
    "one word": "a word",
    "prefix": "a prefix",
    "two words": "two words",
    "word and tag": "a word and a tag",
    "filters, by price": "filters by price",
    "browse newest": "newest",
}


def search_fill(results: Results) -> dict[str, str]:
    r = results["catalog_search.json"]
    runs = r["results"]
    kinds = [k for k in KINDS if any(k in x["by_kind_p50_ms"] for x in runs.values())]
    kinds += sorted({k for x in runs.values() for k in x["by_kind_p50_ms"]} - set(kinds))
    names = {"sqlite": "SQLite (FTS5)", "postgresql": "PostgreSQL (GIN)"}
    rows = [
        [
            names.get(db, db),
            f"{fixed(x['p50_ms'], 1)} ms",
            f"{fixed(x['p99_ms'], 1)} ms",
            *(f"{fixed(x['by_kind_p50_ms'][k], 1)} ms" if k in x["by_kind_p50_ms"] else NONE for k in kinds),
            str(ref.SEARCH_P50_MS) + " (p50)",
        ]
        for db, x in runs.items()
    ]
    header = ["database", "p50", "p99", *(KINDS.get(k, k) for k in kinds), "target"]
    first = next(iter(runs.values()))
    earlier = results.earlier_run("catalog_search.json")
    first_run = ""
    if earlier is not None:
        word = earlier["figures"]["results"]["sqlite"]["by_kind_p50_ms"]["one word"]
        first_run = (
            f"The first run took {fixed(word, 0)} ms (p50) for a word on SQLite (kept in "
            "`bench/results/earlier/catalog_search.json`): the join from a matching document to its dataset "
            "had no index, so every match scanned every dataset. Migration 0003 adds it."
        )
    return {
        "datasets": number(first["datasets"]),
        "queries": number(first["queries"]),
        "page": str(first["items_answered"] // first["queries"]),
        "fill": " and ".join(
            f"{fixed(x['fill_s'], 0)} s on {DATABASES.get(db, db)}" for db, x in runs.items()
        ),
        "machine": machines.describe(r),
        "table": table(header, rows),
        "first_run": first_run,
    }


SECTIONS = (
    Section(
        template="indexer_catchup",
        title="Indexer catch-up",
        script="scripts/bench/indexer_catchup.py",
        results=("indexer_catchup.json",),
        measures="the indexer catching up on 100,000 events: events per second, peak memory",
        fill=catchup_fill,
    ),
    Section(
        template="indexer_freshness",
        title="Catalog freshness",
        script="scripts/bench/indexer_freshness.py",
        results=("indexer_freshness.json",),
        measures="an order's block to the catalog API showing it",
        fill=freshness_fill,
    ),
    Section(
        template="catalog_search",
        title="Catalog search",
        script="scripts/bench/catalog_search.py",
        results=("catalog_search.json",),
        measures="search latency over 10,000 indexed datasets, SQLite and PostgreSQL",
        fill=search_fill,
    ),
)
