"""The API benchmark keeps working: bench/api_bench.py --engine sqlite --quick runs to the end and
prints its tables, ratios and plan verdict. No timing is asserted (machines differ)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchsmoke  # runs a bench/ script; .ci/run's faketime pass leaves it out

REPO = Path(__file__).resolve().parents[2]


def test_api_bench_quick_sqlite() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "api_bench.py"), "--engine", "sqlite", "--quick"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    for header in ("=== sqlite:", "[1] Bookings created per second", "[2] Listing one week",
                   "[3] Query plan of list_bookings", "[4] Conflict check",
                   "compare ratios, not absolute times"):
        assert header in output, (header, output)
    assert "bookings/s" in output
    assert "ratio 10k/1k" in output
    assert "ratio baseline/ours" in output
    assert "OK: index range scan" in output
    assert "Traceback" not in output + result.stderr
