"""The convergence state machine (convergence_machine.py) for Microsoft Graph: random local and
Outlook-side edits, a setting that rewrites every copy, injected faults (429 with Retry-After,
5xx, answers lost after the write was done, on creates, updates, deletes, delta reads and whole
`$batch` requests) and expired delta tokens converge: after a fault-free settling pass Outlook
holds exactly one copy of each live booking (transactionId and our extended property), with
its time and title, and the mirrored events are exactly Outlook's events that are not ours. On
SQLite and PostgreSQL.

Each example gets a business of its own connected to a calendar of its own in the fake's
mailbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from convergence_machine import Convergence, Copy, run
from fakes.microsoft_fake import FakeMicrosoft
from fakes.microsoft_store import graph_time
from microsoft_world import MicrosoftWorld, make_microsoft_world
from server.db.models import MicrosoftCopy, MicrosoftMirroredEvent
from server.microsoft import connections, copies
from server.sync.backlog import backlogs
from server.sync.engine import Engine
from server.sync.tables import MICROSOFT
from support import NOW

UTC = dt.timezone.utc


def ours(event: Any) -> str | None:
    for prop in event.data.get("singleValueExtendedProperties", []):
        if prop["id"] == copies.PROPERTY:
            return str(prop["value"]).split(";")[0]
    return None


class MicrosoftConvergence(Convergence):
    FAULTS = [(429, 3, False), (503, None, False), (500, None, False), (504, None, False),
              (503, None, True), (429, 90, False)]  # (status, Retry-After, answer lost)
    ENDPOINTS = ["POST /v1.0/me/calendars/*/events", "PATCH /v1.0/me/events/*",
                 "DELETE /v1.0/me/events/*", "GET /v1.0/me/calendars/*/calendarView/delta",
                 "POST /v1.0/$batch"]

    def __init__(self, world: MicrosoftWorld) -> None:
        super().__init__(world.runtime)
        self.world = world
        self.fake = world.fake

    def open_account(self, session: Session, n: int, business: int, calendar: int) -> int:
        self.outlook = f"AAMkConvergence{n}"
        self.fake.mailbox.calendars[self.outlook] = f"Calendar {n}"
        connection = connections.connect(session, self.runtime.keyring, business,
                                         self.fake.identity.issue_refresh_token(), NOW).id
        connections.update_settings(session, business, now=NOW, calendars=[
            connections.CalendarChoice(calendar, self.outlook)])
        return connection

    def set_hidden(self, session: Session, hidden: bool) -> None:
        connections.update_settings(session, self.business, now=NOW, hide_client_details=hidden)

    def make_worker(self, n: int) -> Engine:
        return Engine(self.runtime, worker=f"worker-{n}", unthrottled=True,
                      providers=[self.world.provider()])

    def copy_id(self, booking: int) -> str | None:
        with self.runtime.db.read() as session:
            copy = session.execute(select(MicrosoftCopy).where(
                MicrosoftCopy.connection_id == self.connection, MicrosoftCopy.kind == "booking",
                MicrosoftCopy.item_id == booking)).scalar_one_or_none()
            return copy.event_id if copy is not None and not copy.deleted else None

    def exists(self, event_id: str) -> bool:
        found = self.fake.mailbox.events.get(event_id)
        return found is not None and not found.deleted

    def edit_copy(self, event_id: str) -> None:
        self.fake.mailbox.update(event_id, {"subject": "edited in Outlook", "showAs": "free"},
                                 None)

    def delete_event(self, event_id: str) -> None:
        self.fake.mailbox.delete(event_id)

    def add_event(self, start: dt.datetime, summary: str) -> str:
        return self.fake.user_add(self.outlook, {
            "subject": summary, "start": graph_time(start),
            "end": graph_time(start + dt.timedelta(hours=1))})

    def move_event(self, event_id: str, hours: int) -> None:
        start = self.fake.mailbox.get(event_id).start() + dt.timedelta(hours=hours)
        self.fake.mailbox.update(event_id, {
            "subject": f"Moved {hours:+d}", "start": graph_time(start),
            "end": graph_time(start + dt.timedelta(hours=1))}, None)

    def inject(self, fault: Any, endpoint: str, times: int) -> None:
        status, retry_after, lost = fault
        self.fake.fail(status, endpoint, times=times, retry_after=retry_after, lost=lost)

    def expire_cursor(self) -> None:
        self.fake.mailbox.expire_tokens()

    def clear_faults(self) -> None:
        self.fake.clear_faults()

    def held(self) -> tuple[list[Copy], set[tuple[str, str, dt.datetime]]]:
        events = self.fake.mailbox.live(self.outlook)
        found = [Copy(ref, e.start(), e.end(), str(e.data.get("subject", "")),
                      e.data.get("showAs", "busy") == "busy")
                 for e in events if (ref := ours(e)) is not None]
        theirs = {(e.id, str(e.data.get("subject", "")), e.start())
                  for e in events if ours(e) is None}
        return found, theirs

    def mirrored(self, session: Session) -> set[tuple[str, str, dt.datetime]]:
        return {(row.event_id, row.summary, row.start_utc) for row in session.execute(
            select(MicrosoftMirroredEvent).where(
                MicrosoftMirroredEvent.connection_id == self.connection)).scalars()}

    def pending(self, session: Session) -> int:
        found = backlogs(session, NOW, [self.connection], tables=MICROSOFT).get(self.connection)
        return found.total if found is not None else 0


@pytest.fixture
def ms(tmp_path: Path, database_url: str) -> Iterator[MicrosoftWorld]:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake) as world:
        yield world


def test_random_local_and_outlook_edits_with_faults_converge(ms: MicrosoftWorld) -> None:
    run(lambda: MicrosoftConvergence(ms))
    assert ms.fake.internal_errors == []
