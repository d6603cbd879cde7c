"""Kill -9: a real `bookingcal bridge` process is killed with SIGKILL while the fake Google holds
its next write, after it took k of the N inserts; restarted, killed again later, restarted,
it converges: every booking inserted exactly once, none missing. On SQLite and PostgreSQL.

The fake holds the (k+1)th insert unperformed until the process is dead; the rest of that batch
is never performed either, as if the client had vanished mid-batch. A restarted bridge on the
same machine takes over the dead process's lease at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO

from sqlalchemy import func, select

from google_world import World, bridge
from server.db.models import GoogleConnection, GoogleCopy
from server.gcal_bridge import pending
from server.google.copies import MARK, is_ours
from support import HOST_KEY

BOOKINGS = 120  # 3 batches: 50, 50, 20
KILL_AFTER = (1, 57, 40)  # inserts each process gets to make before it is killed
BOOKINGCAL = Path(sys.executable).parent / "bookingcal"
WAIT = 60.0


def start_bridge(folder: Path, database_url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BOOKINGCAL_DATABASE_URL": database_url,
           "BOOKINGCAL_HOST_KEY": HOST_KEY}
    env.pop("BOOKINGCAL_CONFIG", None)
    return subprocess.Popen([str(BOOKINGCAL), "--config", str(folder / "bookingcal.toml"),
                             "bridge"], env=env, stdout=log, stderr=subprocess.STDOUT)


def copies_in_google(world: World) -> list[str]:
    return [e["extendedProperties"]["private"][MARK] for e in world.google() if is_ours(e)]


def test_killed_bridges_converge_with_each_event_inserted_once(
        real_time_world: World, tmp_path: Path, database_url: str) -> None:
    world = real_time_world  # the bridge processes run on the real clock
    bridge(world).run_once(force_pull=True)  # connected and synced; bookings come from now on
    for n in range(BOOKINGS):
        world.book(1 + n // 8, 9 + n % 8)
    stored = [0]
    with (tmp_path / "bridge.log").open("wb") as log:
        for after in KILL_AFTER:
            hold = world.fake.hold("calendar.events.insert", after=after)
            process = start_bridge(tmp_path, database_url, log)
            try:
                assert hold.reached.wait(WAIT), "the bridge never reached the held insert"
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
                world.fake.release_holds()
            assert process.returncode == -signal.SIGKILL
            stored.append(len(copies_in_google(world)))
            assert stored[-2] < stored[-1] < BOOKINGS, stored  # progress, not done
        process = start_bridge(tmp_path, database_url, log)
        try:
            deadline = time.monotonic() + WAIT
            while len(copies_in_google(world)) < BOOKINGS and time.monotonic() < deadline:
                time.sleep(0.1)
            # Done when the database agrees too: every copy recorded, nothing pending.
            while time.monotonic() < deadline:
                with world.runtime.db.read() as session:
                    recorded = session.execute(select(func.count()).select_from(
                        GoogleCopy)).scalar_one()
                    left = pending(session, session.get_one(GoogleConnection,
                                                            world.connection), world.now)
                if recorded == BOOKINGS and left == 0:
                    break
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
    output = (tmp_path / "bridge.log").read_text(encoding="utf-8", errors="replace")
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    refs = copies_in_google(world)
    assert sorted(refs) == sorted(f"booking:{n}" for n in range(1, BOOKINGS + 1)), stored
    inserted = Counter(str(r.body["id"]) for r in world.fake.requests("calendar.events.insert")
                       if r.status == 200 and isinstance(r.body, dict))
    assert len(inserted) == BOOKINGS and set(inserted.values()) == {1}, inserted.most_common(3)
    with world.runtime.db.read() as session:
        assert recorded == BOOKINGS and left == 0
