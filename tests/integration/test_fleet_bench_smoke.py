"""The fleet benchmark keeps working: bench/fleet_bench.py --quick --pgbouncer (20 businesses,
half on the fake Google, half on the fake Microsoft Graph; 1 and 2 `bookingcal bridge`
processes through PgBouncer) runs to the end and prints its table. Request counts are
deterministic and checked (every read calendar listed exactly once per round, whatever the
number of processes; no request in the quiet seconds after a round; no booking lost, also when
a process is killed); no timing is asserted (machines differ)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchsmoke  # runs a bench/ script; .ci/run's faketime pass leaves it out

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_fleet_bench_quick_through_pgbouncer() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "fleet_bench.py"), "--quick", "--pgbouncer"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "Traceback" not in output + result.stderr
    assert "20 businesses x 3 calendars" in output and "through PgBouncer" in output
    assert "Google (half) and Microsoft Graph (half)" in output
    rows = {int(line.split()[0]): line.split() for line in output.splitlines()
            if re.match(r"\s*[12]\s+\d+\.\d+\s", line)}
    assert sorted(rows) == [1, 2], output
    for processes, cells in rows.items():
        # procs, round s, x vs 1, list/cal, tokens, other, quiet, ..., handover, lost
        assert cells[3] == "1.00", f"{processes} processes listed a calendar twice: {output}"
        assert cells[6] == "0", f"{processes} processes asked with nothing due: {output}"
        assert cells[-1] == "0", output
    assert rows[1][-2] == "-" and re.fullmatch(r"\d+\.\d+", rows[2][-2]), output
    assert re.search(r"\[6\] fair sharing, 2 processes: while one business imports 300 events",
                     output), output
    assert "Verdict: OK" in output
