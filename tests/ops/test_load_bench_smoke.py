"""The load benchmark keeps working: bench/load_bench.py --quick starts nginx in front of one and
then two server processes, drives them, prints its tables and finds no error. No timing is
asserted (machines differ; --quick sizes are far too small to mean anything)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchsmoke  # runs a bench/ script; .ci/run's faketime pass leaves it out

REPO = Path(__file__).resolve().parents[2]


def test_load_bench_quick() -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "load_bench.py"), "--quick"],
                            cwd=REPO, capture_output=True, text=True, timeout=240, check=False)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "=== Load through nginx: sqlite" in output
    assert "compare ratios, not absolute times" in output
    for processes in ("1 server process:", "2 server processes:"):
        assert f"--- {processes}" in output, output
    # One line per server process, each of which answered requests.
    per_process = re.findall(r"server process on port \d+: (\d+) req/s \((\d+) requests\)",
                             output)
    assert len(per_process) == 3 and all(int(count) > 0 for _, count in per_process), output
    for kind in ("feed", "caldav-sync", "booking-write", "healthz (baseline)"):
        assert re.search(rf"^  {re.escape(kind)} +\d+ +[\d.]+ +[\d.]+ +[\d.]+", output, re.M), \
            (kind, output)
    shares = re.findall(r"feed polls answered 304: \d+/\d+ = ([\d.]+)%", output)
    assert len(shares) == 2 and all(float(share) > 0 for share in shares), output
    assert output.count("  errors: 0") == 2
    assert "throughput with 2 processes / with 1:" in output
    assert "errors in all: 0 (must be 0)" in output
    assert "Traceback" not in output + result.stderr
