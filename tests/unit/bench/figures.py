"""Small made-up results files in the shapes the benchmark scripts write, for the report's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GAS = {
    "publish_fixed_price": 123457,
    "publish_free": 171001,
    "buy": 99999,
    "order_with_provider_fee": 81234,
    "dispense": 106001,
    "a_new_operation": 4242,
}
FRESHNESS = {
    "orders": 7,
    "confirmations": 0,
    "poll_interval_s": 0.5,
    "database": "sqlite",
    "p50_s": 0.314,
    "p90_s": 0.627,
    "max_s": 0.951,
    "target_p50_s": 1.0,
    "machine": {"python": "3.11.7", "cpu": "Test CPU", "cores": 3},
}
SLOW_CLIENTS = {
    "machine": {"python": "3.11.7", "cpu": "Test CPU", "cores": 2},
    "timeout_s": 5.0,
    "workers": {
        "sync (before)": [
            {"tricklers": 0, "probes": 20, "timed_out": 0, "p50_ms": 2.71, "p99_ms": 6.28},
            {"tricklers": 2, "probes": 3, "timed_out": 3},
        ],
        "gevent (now)": [
            {"tricklers": 0, "probes": 20, "timed_out": 0, "p50_ms": 2.43, "p99_ms": 4.87},
            {"tricklers": 2, "probes": 20, "timed_out": 0, "p50_ms": 3.19, "p99_ms": 9.62},
        ],
    },
}
LOAD = {
    "machine": {"python": "3.11.7", "cpu": "Test CPU", "cores": 2},
    "clients": 17,
    "seconds": 3.0,
    "access": {"requests": 401, "ok_per_s": 133.7, "statuses": {"200": 400, "503": 1}, "p50_ms": 12.34,
               "p99_ms": 56.78, "max_ms": 91.23, "sample_ms": [10.5, 12.25, 14.0, 56.5]},
    "search": {"requests": 611, "ok_per_s": 203.7, "statuses": {"200": 611}, "p50_ms": 7.65,
               "p99_ms": 43.21, "max_ms": 65.43, "sample_ms": [5.5, 7.75, 9.0]},
    "accepted_nonces": 400,
    "doubled_nonces": 0,
    "replayed": {"409": 400},
}  # fmt: skip
#: A results file no section reads: scalars, a nested mapping, a list of records.
MADE_UP = {
    "benchmark": "raw_index",
    "machine": {"python": "3.11.7", "cpu": "Test CPU", "cores": 2},
    "rows": 31337,
    "ratio": 0.123456,
    "totals": {"wall_s": 2.5, "peak_mib": 77.7},
    "cases": [
        {"dataset": "csv", "size_mib": 10, "child": {"wall_s": 0.625}},
        {"dataset": "dense_text", "size_mib": 10, "child": {"wall_s": 0.875}},
    ],
}


def write(folder: Path, name: str, data: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
