"""litmus (`basic`, `props`) on a writable account must pass where stock Radicale passes:
bench/litmus_run.py runs both in one go (our server in its process on the injected clock, stock
Radicale as tests/caldav_servers.py starts it; litmus from the Debian package that
scripts/system-packages.sh installs). Inside a calendar collection (`cal-in`) every test
Radicale passes passes on ours; the only tests ours fails where Radicale passes are at the
account's home, where litmus cannot make its plain WebDAV collection (by design: a writable
account holds calendars of events only, see README)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_litmus_passes_on_ours_where_radicale_passes() -> None:
    answer = subprocess.run([sys.executable, str(REPO / "bench" / "litmus_run.py")],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert answer.returncode == 0, answer.stdout[-2000:] + answer.stderr[-2000:]
    lines = answer.stdout.splitlines()
    header = next(line for line in lines if line.startswith("test "))
    labels = re.split(r"\s{2,}", header.strip())[1:]
    assert labels == ["Radicale cal", "ours cal", "Radicale home", "Radicale home,W",
                      "ours home", "Radicale cal-in", "ours cal-in"], header
    rows = {}
    for line in lines:
        match = re.match(r"^(basic|props)\s+(\d+)\. (\w+)\s+(.*)$", line)
        if match:
            rows[(match.group(1), int(match.group(2)))] = match.group(4).split()
    assert len([key for key in rows if key[0] == "basic"]) >= 15, answer.stdout
    assert len([key for key in rows if key[0] == "props"]) >= 25, answer.stdout
    theirs, ours = labels.index("Radicale cal-in"), labels.index("ours cal-in")
    ran = 0
    for key, outcomes in rows.items():
        assert outcomes[theirs] != "-" and outcomes[ours] != "-", (key, outcomes)
        if outcomes[theirs] in ("pass", "warn"):
            ran += 1
            assert outcomes[ours] in ("pass", "warn"), (key, outcomes)
    assert ran >= 14, answer.stdout
    listed = [line for line in lines if line.startswith("  ! ")]
    assert all("(ours home)" in line for line in listed), listed
    # A calendar is no place for a non-iCalendar body: refused with a 4xx, never a 5xx.
    words = answer.stdout.split("ours (ours cal-in) failed, litmus's words:")[1]
    assert "put_get: PUT of" in words and " 403 " in words.split("put_get: PUT of")[1][:80]
    assert not re.search(r"\b5\d\d\b", words), words
