"""The gas of every market operation, beside its target and Ocean Protocol's figure."""

from __future__ import annotations

from collections.abc import Mapping

from bench_readme import references as ref
from bench_readme.markdown import NONE, number, table
from bench_readme.results import Results
from bench_readme.section import Section

#: Results keys in the order the table shows them, and what each operation is.
OPERATIONS = {
    "publish_fixed_price": "publish with fixed price",
    "publish_free": "publish free",
    "buy": "buy one datatoken",
    "order_with_provider_fee": "order with provider fee",
    "buy_and_order": "buy and order, one transaction",
    "buy_and_order_permit": "buy and order with permit (no approve)",
    "dispense": "take a free datatoken (dispense)",
    "metadata_update": "metadata update (new CID and hash)",
    "compute_receipt_per_job_batch10": "compute receipt, per job in a batch of 10",
    "buy_cold": "buy one datatoken, first sale of a new market (`buy_cold`)",
    "order_with_provider_fee_cold": "order with provider fee, first sale of a new market "
    "(`order_with_provider_fee_cold`)",
    "datatoken_transfer": "plain transfer of one datatoken (`datatoken_transfer`)",
}


def _rows(gas: Mapping[str, int]) -> list[list[str]]:
    keys = [k for k in OPERATIONS if k in gas] + sorted(k for k in gas if k not in OPERATIONS)
    return [
        [
            OPERATIONS.get(k, f"`{k}`"),
            number(gas[k]),
            str(ref.GAS_TARGETS.get(k, NONE)),
            str(ref.OCEAN_GAS.get(k, NONE)),
        ]
        for k in keys
    ]


def _dispense(gas: Mapping[str, int], results: Results) -> str:
    earlier = results.earlier_run("gas.json")
    if earlier is None or "dispense" not in gas or "dispense" not in earlier["figures"]:
        return ""
    before = earlier["figures"]["dispense"]
    return (
        f" The v1 market's dispense, which checked the account's balance instead, cost {number(before)} "
        "gas (`bench/results/earlier/gas.json`): this one costs "
        f"{number(gas['dispense'] - before)} more."
    )


def fill(results: Results) -> dict[str, str]:
    gas = results["gas.json"]
    return {
        "table": table(["operation", "datamarket", "target", "Ocean"], _rows(gas)),
        "ocean": ref.OCEAN_GAS_SOURCE,
        "targets": ref.GAS_TARGETS_SOURCE,
        "dispense": _dispense(gas, results),
    }


SECTIONS = (
    Section(
        template="gas",
        title="Gas",
        script="scripts/bench/gas.js",
        results=("gas.json",),
        measures="gas of every market operation, beside Ocean Protocol's",
        fill=fill,
    ),
)
