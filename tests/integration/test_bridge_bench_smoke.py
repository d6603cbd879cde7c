"""The bridge benchmark keeps working: bench/bridge_bench.py --quick --engine sqlite runs to the
end and prints its request counts next to their baselines, and the latency line. Counts are
deterministic and checked; no timing is asserted (machines differ)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchsmoke  # runs a bench/ script; .ci/run's faketime pass leaves it out

REPO = Path(__file__).resolve().parents[2]


def test_bridge_bench_quick_sqlite() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bridge_bench.py"), "--quick", "--engine",
         "sqlite"], cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "Traceback" not in output + result.stderr
    assert "compare ratios, not absolute times" in output
    # what, requests, baseline, ratio: 600 events in 1 page, 120 bookings in 3 batches of 50,
    # an idle pass of 1 list request.
    for what, requests in (("[1] import 600 Google events: list requests", 1),
                           ("[2] push 120 new bookings: batch requests", 3),
                           ("[3] idle pass, 1 read calendar: requests of any kind", 1)):
        line = next(line for line in output.splitlines() if what in line)
        assert re.search(rf"{re.escape(what)}\s+{requests}\s+{requests}\s+1\.00\s", line), line
    assert re.search(r"\[4\] sqlite: booking change -> fake received its copy, 4 samples: "
                     r"median \d+\.\d+ s, p95 \d+\.\d+ s", output), output


def test_bridge_bench_quick_microsoft_sqlite() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bridge_bench.py"), "--quick", "--engine",
         "sqlite", "--provider", "microsoft"], cwd=REPO, capture_output=True, text=True,
        timeout=180, check=False)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "Traceback" not in output + result.stderr
    # 600 events in delta pages of 200, 120 bookings in $batch requests of 20, an idle pass of
    # one delta request.
    for what, requests in (("[1] import 600 Outlook events: delta requests", 3),
                           ("[2] push 120 new bookings: $batch requests", 6),
                           ("[3] idle pass, 1 read calendar: requests of any kind", 1)):
        line = next(line for line in output.splitlines() if what in line)
        assert re.search(rf"{re.escape(what)}\s+{requests}\s+{requests}\s+1\.00\s", line), line
    assert re.search(r"\[4\] microsoft, sqlite: booking change -> fake received its copy, 4 "
                     r"samples: median \d+\.\d+ s, p95 \d+\.\d+ s", output), output


def test_bridge_bench_quick_ics_sqlite() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bridge_bench.py"), "--quick", "--engine",
         "sqlite", "--provider", "ics"], cwd=REPO, capture_output=True, text=True,
        timeout=180, check=False)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "Traceback" not in output + result.stderr
    for what in ("[1] ics: first read of a feed of 600 events: GETs",
                 "[2] ics: idle pass, source due, feed unchanged: requests (304)",
                 "[3] ics: 21 passes, the source due once: requests of any kind"):
        line = next(line for line in output.splitlines() if what in line)
        assert re.search(rf"{re.escape(what)}\s+1\s+1\s+1\.00\s", line), line
    assert re.search(r"\[4\] ics, sqlite: 'read again' -> the changed feed mirrored, 4 "
                     r"samples: median \d+\.\d+ s, p95 \d+\.\d+ s", output), output
