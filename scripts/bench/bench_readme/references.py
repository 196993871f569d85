"""What the figures are measured against: our targets, and the peers' figures (anchors).

Each is data with its source named; the README lists the sources. A target or an anchor is the only
number in the README that does not come from a results file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A figure we aim for: ``op`` (``<=`` or ``>=``) ``value`` in ``unit``."""

    op: str
    value: float
    unit: str
    source: str

    def __str__(self) -> str:
        shown = f"{self.value:,.0f}" if self.value == int(self.value) else f"{self.value:g}"
        unit = self.unit if self.unit in ("%", "/s") else f" {self.unit}" if self.unit else ""
        return f"{self.op} {shown}{unit}"

    def met(self, figure: float) -> bool:
        return figure <= self.value if self.op == "<=" else figure >= self.value


@dataclass(frozen=True)
class Anchor:
    """A peer's figure, as its source gives it (a number or words)."""

    text: str
    source: str

    def __str__(self) -> str:
        return self.text


GAS_TARGETS_SOURCE = "the gas targets of `scripts/bench/gas.js` (TARGET), set when the v2 market was measured"


def _recorded(script: str, key: str) -> str:
    return f"`scripts/bench/{script}`, which records it beside its figures ({key})"


README_TARGET = "the headline Figures table of the repository's README.md"
OCEAN_GAS_SOURCE = (
    "ANCHORS.md (the peers' figures, kept beside the repository): Ocean Protocol's current contracts "
    "on a local Hardhat chain, with their own compiler settings (solc 0.8.12, optimizer 200 runs); "
    "gas is deterministic, so the two compare directly"
)
OCEAN_CODE_SOURCE = "ANCHORS.md: Ocean Protocol's code and documentation"
OPACUS_SOURCE = "ANCHORS.md: Opacus's published MNIST figures (delta 1e-5)"


def _gas(value: int) -> Target:
    return Target("<=", value, "", GAS_TARGETS_SOURCE)


def _ocean(value: int) -> Anchor:
    return Anchor(f"{value:,}", OCEAN_GAS_SOURCE)


GAS_TARGETS = {
    "publish_fixed_price": _gas(180_000),
    "publish_free": _gas(350_000),
    "order_with_provider_fee": _gas(85_000),
    "buy_and_order": _gas(95_000),
    "metadata_update": _gas(36_000),
    "compute_receipt_per_job_batch10": _gas(10_000),
}
#: Ocean's gas for the operation that does what ours does (their first buy, their fee-paying order).
OCEAN_GAS = {
    "publish_fixed_price": _ocean(1_494_608),
    "publish_free": _ocean(1_314_158),
    "buy": _ocean(262_937),
    "buy_cold": _ocean(262_937),
    "order_with_provider_fee": _ocean(149_955),
    "buy_and_order": _ocean(325_780),
    "dispense": _ocean(104_063),
    "metadata_update": _ocean(166_886),
    "datatoken_transfer": _ocean(37_021),
}

CID_VS_SHA256 = Target(">=", 70, "%", _recorded("cid_throughput.py", "target"))
CID_STREAM_MEMORY = "flat"
ACCESS_P50_MS = Target("<=", 15, "ms", README_TARGET)
DOWNLOAD_VS_PLAIN_READ = Target(">=", 80, "%", README_TARGET)
JOB_START_P50_S = Target("<=", 1, "s", _recorded("job_start.py", "target_p50_s"))
SANDBOX_OVERHEAD_PCT = Target("<=", 5, "%", _recorded("sandbox_overhead.py", "training.target_pct"))
INDEXER_EVENTS_PER_S = Target(">=", 2_000, "/s", _recorded("indexer_catchup.py", "target_events_per_s"))
FRESHNESS_P50_S = Target("<=", 1, "s", _recorded("indexer_freshness.py", "target_p50_s"))
SEARCH_P50_MS = Target("<=", 20, "ms", _recorded("catalog_search.py", "target_p50_ms"))

OCEAN_SIGNATURES = Anchor(
    "pure-Python elliptic-curve signing: 1.5 ms to sign, 4.6 ms to recover (coincurve: ~0.07 / 0.03 ms)",
    OCEAN_CODE_SOURCE,
)
OCEAN_DOWNLOAD = Anchor("5-6 network round trips before the first byte", OCEAN_CODE_SOURCE)
OCEAN_JOB_START = Anchor(
    "four Kubernetes jobs in sequence, each polled every 5 s, the algorithm's image pulled each time: "
    "tens of seconds to minutes",
    OCEAN_CODE_SOURCE,
)
OCEAN_FRESHNESS = Anchor(
    "Aquarius, their metadata cache, polls the chain every 30 s; clients wait up to 60 s", OCEAN_CODE_SOURCE
)
#: Opacus on MNIST: test accuracy (%) by epsilon, ``None`` for no DP.
OPACUS_MNIST = {None: 98.94, 7.1: 97.09, 3.0: 96.78, 1.2: 94.63}

#: What the README lists under "Targets and anchors": the figure, what it is measured against, the source.
LISTED: tuple[tuple[str, str, str], ...] = (
    ("gas of each operation (the Gas table)", "target", GAS_TARGETS_SOURCE),
    ("CID computation beside sha256", str(CID_VS_SHA256), CID_VS_SHA256.source),
    ("access request p50, one client", str(ACCESS_P50_MS), ACCESS_P50_MS.source),
    ("download and decrypt beside a plain read", str(DOWNLOAD_VS_PLAIN_READ), DOWNLOAD_VS_PLAIN_READ.source),
    ("compute job start, p50", str(JOB_START_P50_S), JOB_START_P50_S.source),
    ("sandbox overhead of train_tabular", str(SANDBOX_OVERHEAD_PCT), SANDBOX_OVERHEAD_PCT.source),
    ("indexer catch-up", str(INDEXER_EVENTS_PER_S), INDEXER_EVENTS_PER_S.source),
    ("an order's block to the API, p50", str(FRESHNESS_P50_S), FRESHNESS_P50_S.source),
    ("catalog search, p50", str(SEARCH_P50_MS), SEARCH_P50_MS.source),
    ("gas of each operation (the Gas table)", "anchor: Ocean Protocol", OCEAN_GAS_SOURCE),
    ("signing, download, job start, freshness", "anchor: Ocean Protocol", OCEAN_CODE_SOURCE),
    ("DP-SGD accuracy against epsilon", "anchor: Opacus on MNIST", OPACUS_SOURCE),
)
