"""The calendar link benchmark keeps working: bench/ics_bench.py on a small feed runs to the
end, with its checks (every variant gives the same events and the same mirror rows: the parse
whole and trimmed, the mirror written row by row and batched) and prints every row. No timing
is asserted (machines differ)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchsmoke  # runs a bench/ script; .ci/run's faketime pass leaves it out

REPO = Path(__file__).resolve().parents[2]


def test_ics_bench_small_feed() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "ics_bench.py"), "--events", "60", "--repeat",
         "1"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    for kind in ("plain", "Outlook-shaped"):
        for row in (f"parse.read, {kind} feed of 60 events",
                    f"engine first read (GET, parse, mirror on sqlite), {kind}: parse whole",
                    f"engine first read (GET, parse, mirror on sqlite), {kind}: mirror row by "
                    "row -> batched", f"{kind}: parse.read"):
            assert row in output, (row, output)
    assert "Traceback" not in output + result.stderr
