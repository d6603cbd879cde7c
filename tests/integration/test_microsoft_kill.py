"""Kill -9 for Microsoft Graph, the twin of test_google_kill.py (both run through
bridge_process.py): real `bookingcal bridge` processes are killed with SIGKILL while the fake
Graph holds the next create of a `$batch` (the rest of that batch is never performed, its
answer never sent), after they took k of the N creates; restarted, killed again, restarted, it
converges: every booking in Outlook exactly once (one event per transactionId, one copy per
booking), none missing, everything recorded. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bridge_process import KillRun, kill_then_converge
from fakes.microsoft_fake import FakeMicrosoft
from microsoft_world import CALENDAR, MicrosoftWorld, make_microsoft_world
from server.db.models import MicrosoftCopy
from server.microsoft import copies
from server.sync.backlog import backlogs
from server.sync.engine import Engine
from server.sync.tables import MICROSOFT
from support import real_now

BOOKINGS = 60  # 3 $batch requests of 20
KILL_AFTER = (1, 27, 15)  # creates each process gets to make before it is killed


@pytest.fixture
def real_time_ms(tmp_path: Path, database_url: str) -> Iterator[MicrosoftWorld]:
    """The bridge processes run on the real clock, so the world does too; no subscriptions
    (nothing serves the notification URL)."""
    with FakeMicrosoft() as fake, make_microsoft_world(
            tmp_path, database_url, fake, now=real_now(),
            extra="notifications = false\n") as world:
        yield world
        assert fake.internal_errors == []


def refs(world: MicrosoftWorld) -> list[str]:
    found = []
    for event in world.fake.mailbox.live(CALENDAR):
        for prop in event.data.get("singleValueExtendedProperties", []):
            if prop["id"] == copies.PROPERTY:
                found.append(str(prop["value"]).split(";")[0])
    return found


def test_killed_bridges_converge_with_each_event_created_once(
        real_time_ms: MicrosoftWorld, tmp_path: Path, database_url: str) -> None:
    world = real_time_ms
    [first] = Engine(world.runtime, worker="kill-test", providers=[world.provider()]).run_once(
        force_pull=True)  # connected and synced; bookings come from now on
    assert first.error is None, first.error
    for n in range(BOOKINGS):
        world.book(1 + n // 8, 9 + n % 8)

    def recorded() -> tuple[int, int]:
        with world.runtime.db.read() as session:
            count = session.execute(select(func.count()).select_from(MicrosoftCopy)).scalar_one()
            found = backlogs(session, real_now(), [world.connection], tables=MICROSOFT).get(
                world.connection)
            return int(count), found.total if found is not None else 0

    run = KillRun(hold=lambda after: world.fake.hold("events.create", after=after),
                  release=world.fake.release_holds, copies=lambda: len(refs(world)),
                  recorded=recorded)
    stored, output, code = kill_then_converge(run, tmp_path, database_url, BOOKINGS, KILL_AFTER)
    assert code == 0, output
    assert "Traceback" not in output, output
    assert sorted(refs(world)) == sorted(f"booking:{n}" for n in range(1, BOOKINGS + 1)), stored
    keys = Counter(e.data.get("transactionId") for e in world.fake.mailbox.live(CALENDAR))
    assert len(keys) == BOOKINGS and set(keys.values()) == {1}, keys.most_common(3)
