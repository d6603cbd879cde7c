"""Kill -9 with a real CalDAV server (Radicale, behind the quirk proxy): a real `bookingcal
bridge` process is killed with SIGKILL while the proxy holds its next PUT, after k of the N
copies were written; restarted, killed again later, restarted, it converges: every booking's
copy exists exactly once on the server, each resource created once (201), none missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO

import icalendar
from sqlalchemy import func, select

from caldav_servers import Quirks, proxy, radicale
from caldav_world import CalDAVWorld, make_caldav_world
from server.db.models import CalDAVCopy
from server.sync.engine import Engine
from support import HOST_KEY, real_now

BOOKINGS = 45  # 3 batches: 20, 20, 5
KILL_AFTER = (1, 23, 9)
BOOKINGCAL = Path(sys.executable).parent / "bookingcal"
WAIT = 90.0


def start_bridge(folder: Path, database_url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BOOKINGCAL_DATABASE_URL": database_url,
           "BOOKINGCAL_HOST_KEY": HOST_KEY}
    env.pop("BOOKINGCAL_CONFIG", None)
    return subprocess.Popen([str(BOOKINGCAL), "--config", str(folder / "bookingcal.toml"),
                             "bridge"], env=env, stdout=log, stderr=subprocess.STDOUT)


def copies_there(world: CalDAVWorld) -> list[str]:
    found = []
    for event in world.server.dav().calendar(url=world.server.calendar_url).events():
        for component in icalendar.Calendar.from_ical(event.data).walk("VEVENT"):
            mark = component.get("X-BOOKINGCAL-ITEM")
            if mark is not None:
                found.append(str(mark).partition("/")[0])
    return found


def test_killed_bridges_converge_with_each_copy_written_once(
        tmp_path: Path, database_url: str) -> None:
    quirks = Quirks()
    with radicale(tmp_path / "radicale") as real, proxy(real, quirks) as server, \
            make_caldav_world(tmp_path, database_url, server, now=real_now()) as world:
        # (the world's clock is the real now: the bridge processes run on the real clock)
        [first] = Engine(world.runtime, worker="t", providers=[world.provider()]).run_once(
            force_pull=True)
        assert first.error is None
        for n in range(BOOKINGS):
            world.book(1 + n // 8, 9 + n % 8)
        stored = [0]
        with (tmp_path / "bridge.log").open("wb") as log:
            for after in KILL_AFTER:
                quirks.hold(after)
                process = start_bridge(tmp_path, database_url, log)
                try:
                    assert quirks.reached.wait(WAIT), "the bridge never reached the held PUT"
                finally:
                    process.send_signal(signal.SIGKILL)
                    process.wait(timeout=10)
                    quirks.release_holds()
                assert process.returncode == -signal.SIGKILL
                stored.append(len(copies_there(world)))
                assert stored[-2] < stored[-1] < BOOKINGS, stored  # progress, not done
            process = start_bridge(tmp_path, database_url, log)
            try:
                deadline = time.monotonic() + WAIT
                recorded = 0
                while time.monotonic() < deadline:
                    with world.runtime.db.read() as session:
                        recorded = session.execute(select(func.count()).select_from(
                            CalDAVCopy).where(CalDAVCopy.sent_seq > 0)).scalar_one()
                    if recorded == BOOKINGS and len(copies_there(world)) == BOOKINGS:
                        break
                    time.sleep(0.2)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)
        output = (tmp_path / "bridge.log").read_text(encoding="utf-8", errors="replace")
        assert process.returncode == 0, output
        assert "Traceback" not in output, output
        assert sorted(copies_there(world)) == sorted(
            f"booking:{n}" for n in range(1, BOOKINGS + 1)), stored
        created = Counter(path for method, path, status in quirks.answered
                          if method == "PUT" and status == 201)
        assert len(created) == BOOKINGS and set(created.values()) == {1}, created.most_common(3)
        assert recorded == BOOKINGS
