"""The CalDAV benchmark keeps working: bench/caldav_bench.py --quick loads the tiny calendars,
starts `bookingcal serve` and stock Radicale in their own processes, runs every operation and
prints its tables and target lines. No timing is asserted (machines differ; --quick sizes are
far too small for the targets to be met)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchsmoke  # runs a bench/ script; .ci/run's faketime pass leaves it out

REPO = Path(__file__).resolve().parents[2]

HEADINGS = (
    "=== CalDAV and feed benchmark",
    "compare ratios, not absolute times",
    "[1] Feed GET, cold",
    "[2] Feed GET, warm",
    "[3] Conditional GET with If-None-Match",
    "[4] PROPFIND Depth: 1 on the calendar",
    "[5] calendar-query REPORT for one week",
    "[6] sync-collection REPORT after one change",
    "[7] calendar-multiget REPORT of 50 hrefs",
    "[8] Memory of each server process",
    "[F1] Feed conditional GET (304), ours vs the floors",
    "[F2] Warm feed GET without content coding vs the one-query floor",
    "[F3] Warm feed GET with gzip vs the same body compressed once",
    "Targets:",
)
TARGETS = (
    "our warm feed vs Radicale's collection GET, >= 10x faster",
    "our 304 vs Radicale's collection GET, >= 300x faster",
    "our one-week calendar-query, >= 50x faster",
    "our sync-collection after one change, >= 50x faster",
    "<= 1.5x ours at 200, one-week calendar-query",
    "<= 1.5x ours at 200, sync-collection after one change",
    "does not hold it in memory",
    "SQLite 200: our 304 within 1.5x of the Flask floor",
    "PostgreSQL 200: our 304 within 2x of the Flask floor",
    "warm identity feed within 2x of the one-query floor",
    "100 businesses vs 1: 304",
)


@pytest.mark.timeout(330)  # the subprocess's own timeout (300 s) fires first
def test_caldav_bench_quick() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "caldav_bench.py"), "--quick"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "Traceback" not in output + result.stderr, output + result.stderr
    for heading in HEADINGS:
        assert heading in output, (heading, output)
    for size_row in ("\n  200 ", "\n  1k "):
        assert size_row in output, (size_row, output)
    assert "size  ours" in output and "Radicale/ours" in output
    for target in TARGETS:
        lines = [line for line in output.splitlines() if target in line]
        assert lines, (target, output)
        assert re.match(r"\s*\[(MET|NOT MET)\] ", lines[0]), lines[0]
    assert "WARNING" not in output, output
    assert "same bytes" in output and "  NO  " not in output, output  # the floor is our body
