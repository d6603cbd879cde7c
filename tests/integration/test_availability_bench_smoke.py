"""The availability benchmark keeps working: bench/availability_bench.py --engine sqlite --quick
runs to the end and prints its three sections with the ratios. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchsmoke  # runs a bench/ script; .ci/run's faketime pass leaves it out

REPO = Path(__file__).resolve().parents[2]


def test_availability_bench_quick_sqlite() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "availability_bench.py"), "--engine", "sqlite",
         "--quick"], cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    for header in ("=== sqlite: availability ===", "[1] 7 days of slots for one calendar",
                   "[2] Baseline", "[3] 7 days of slots for 20 calendars in one request",
                   "compare ratios, not absolute times"):
        assert header in output, (header, output)
    assert "ratio 5k/1k:" in output and "baseline ratio 5k/1k:" in output
    assert "Traceback" not in output + result.stderr
