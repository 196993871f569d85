"""Fail when a contract's line or branch coverage (solidity-coverage's coverage.json) is below a minimum."""

import argparse
import json
import sys


def percentages(entry: dict) -> dict[str, float]:
    lines = list(entry["l"].values())
    branches = [hit for arms in entry["b"].values() for hit in arms]
    functions = list(entry["f"].values())

    def pct(hits: list[int]) -> float:
        return 100.0 * sum(1 for h in hits if h) / len(hits) if hits else 100.0

    return {"lines": pct(lines), "branches": pct(branches), "functions": pct(functions)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("coverage_json")
    parser.add_argument("--min", type=float, default=95.0)
    args = parser.parse_args()
    with open(args.coverage_json) as f:
        report = json.load(f)
    failed = False
    for path, entry in sorted(report.items()):
        name = path.split("contracts/", 1)[-1]
        if name.startswith("test/") or name.startswith("interfaces/"):
            continue
        figures = percentages(entry)
        shown = "  ".join(f"{k} {v:6.2f}%" for k, v in figures.items())
        low = [k for k in ("lines", "branches") if figures[k] < args.min]
        print(f"{name:<28} {shown}{'  BELOW ' + str(args.min) + '%' if low else ''}")
        failed = failed or bool(low)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
