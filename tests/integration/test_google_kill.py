"""Kill -9: a real `bookingcal bridge` process is killed with SIGKILL while the fake Google holds
its next write, after it took k of the N inserts; restarted, killed again later, restarted,
it converges: every booking inserted exactly once, none missing. On SQLite and PostgreSQL.

The fake holds the (k+1)th insert unperformed until the process is dead; the rest of that batch
is never performed either, as if the client had vanished mid-batch. A restarted bridge on the
same machine takes over the dead process's lease at once (tests/integration/bridge_process.py
runs the processes; test_microsoft_kill.py is Microsoft's twin)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from bridge_process import KillRun, kill_then_converge
from google_world import World, bridge
from server.db.models import GoogleConnection, GoogleCopy
from server.gcal_bridge import pending
from server.google.copies import MARK, is_ours

BOOKINGS = 120  # 3 batches: 50, 50, 20
KILL_AFTER = (1, 57, 40)  # inserts each process gets to make before it is killed


def copies_in_google(world: World) -> list[str]:
    return [e["extendedProperties"]["private"][MARK] for e in world.google() if is_ours(e)]


def test_killed_bridges_converge_with_each_event_inserted_once(
        real_time_world: World, tmp_path: Path, database_url: str) -> None:
    world = real_time_world  # the bridge processes run on the real clock
    bridge(world).run_once(force_pull=True)  # connected and synced; bookings come from now on
    for n in range(BOOKINGS):
        world.book(1 + n // 8, 9 + n % 8)

    def recorded() -> tuple[int, int]:
        with world.runtime.db.read() as session:
            return (session.execute(select(func.count()).select_from(GoogleCopy)).scalar_one(),
                    pending(session, session.get_one(GoogleConnection, world.connection),
                            world.now))

    run = KillRun(hold=lambda after: world.fake.hold("calendar.events.insert", after=after),
                  release=world.fake.release_holds,
                  copies=lambda: len(copies_in_google(world)), recorded=recorded)
    stored, output, code = kill_then_converge(run, tmp_path, database_url, BOOKINGS, KILL_AFTER)
    assert code == 0, output
    assert "Traceback" not in output, output
    refs = copies_in_google(world)
    assert sorted(refs) == sorted(f"booking:{n}" for n in range(1, BOOKINGS + 1)), stored
    inserted = Counter(str(r.body["id"]) for r in world.fake.requests("calendar.events.insert")
                       if r.status == 200 and isinstance(r.body, dict))
    assert len(inserted) == BOOKINGS and set(inserted.values()) == {1}, inserted.most_common(3)
