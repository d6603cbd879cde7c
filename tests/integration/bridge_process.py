"""Kill -9 runs shared by every provider's test (test_google_kill.py, test_microsoft_kill.py):
real `bookingcal bridge` processes are killed with SIGKILL while the provider's fake holds their
next create, after they took k of the N creates; a last process runs until the provider holds
every copy and the database agrees (every copy recorded, nothing pending)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from support import HOST_KEY

BOOKINGCAL = Path(sys.executable).parent / "bookingcal"
WAIT = 60.0


def start_bridge(folder: Path, database_url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BOOKINGCAL_DATABASE_URL": database_url,
           "BOOKINGCAL_HOST_KEY": HOST_KEY}
    env.pop("BOOKINGCAL_CONFIG", None)
    return subprocess.Popen([str(BOOKINGCAL), "--config", str(folder / "bookingcal.toml"),
                             "bridge"], env=env, stdout=log, stderr=subprocess.STDOUT)


@dataclass
class KillRun:
    """What a provider's test gives: how to hold its fake's next creates (returns the hold,
    whose `reached` event tells when one is held), release them, count our copies it holds,
    and read (recorded copies, changes pending) from the database."""

    hold: Callable[[int], object]
    release: Callable[[], None]
    copies: Callable[[], int]
    recorded: Callable[[], tuple[int, int]]


def kill_then_converge(run: KillRun, folder: Path, database_url: str, total: int,
                       kill_after: tuple[int, ...]) -> tuple[list[int], str, int]:
    """(copies held after each kill, the processes' output, the last one's exit code); asserts
    progress after each kill and convergence at the end."""
    stored = [0]
    with (folder / "bridge.log").open("wb") as log:
        for after in kill_after:
            hold = run.hold(after)
            process = start_bridge(folder, database_url, log)
            try:
                reached = getattr(hold, "reached")
                assert reached.wait(WAIT), "the bridge never reached the held create"
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
                run.release()
            assert process.returncode == -signal.SIGKILL
            stored.append(run.copies())
            assert stored[-2] < stored[-1] < total, stored  # progress, not done
        process = start_bridge(folder, database_url, log)
        try:
            deadline = time.monotonic() + WAIT
            while run.copies() < total and time.monotonic() < deadline:
                time.sleep(0.1)
            while time.monotonic() < deadline:  # done when the database agrees too
                if run.recorded() == (total, 0):
                    break
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
    output = (folder / "bridge.log").read_text(encoding="utf-8", errors="replace")
    assert run.recorded() == (total, 0), (run.recorded(), stored)
    return stored, output, process.returncode
