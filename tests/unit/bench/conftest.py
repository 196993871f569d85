"""The benchmarks' report generator lives beside the benchmark scripts, in scripts/bench/ (not an
installed package): its tests import it from there."""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts" / "bench"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
