"""A random schedule of local and Google-side edits, setting changes that rewrite every copy and
injected faults converges: after a fault-free settling pass Google holds exactly one copy of
each live booking, with the booking's time and the title the settings call for, none of a
cancelled or deleted one, and the mirrored events are exactly Google's events that are not
ours. The hypothesis state machine of convergence_machine.py drives the bridge against the fake
Google, on SQLite and PostgreSQL.

Each example gets a business of its own connected to a Google account of its own (in the one
database and fake of the test), so examples start from nothing without paying for a new
database each time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from convergence_machine import Convergence, Copy, run
from fakes import FaultKind
from google_world import World, bridge
from server.db.models import GoogleConnection, GoogleCopy, MirroredEvent
from server.gcal_bridge import pending
from server.google import oauth
from server.google import settings as google_settings
from server.google.copies import MARK, is_ours
from server.sync.engine import Engine, PassReport
from support import NOW


def aware(text: dict[str, str]) -> dt.datetime:
    return dt.datetime.fromisoformat(text["dateTime"].replace("Z", "+00:00"))


class GoogleConvergence(Convergence):
    FAULTS = [FaultKind.TOO_MANY_REQUESTS, FaultKind.SERVER_ERROR, FaultKind.UNAVAILABLE,
              FaultKind.RATE_LIMIT_EXCEEDED, FaultKind.LOST_RESPONSE_500,
              FaultKind.LOST_RESPONSE]
    ENDPOINTS = ["calendar.events.insert", "calendar.events.update",
                 "calendar.events.delete", "calendar.events.list", "batch"]

    def __init__(self, world: World) -> None:
        super().__init__(world.runtime)
        self.world = world
        self.fake = world.fake

    def open_account(self, session: Session, n: int, business: int, calendar: int) -> int:
        self.user = self.fake.add_user(f"owner{n}@example.com")
        connection = oauth.connect(session, self.runtime.keyring, business,
                                   self.fake.issue_tokens(user=self.user), NOW).id
        google_settings.update_settings(session, business, now=NOW, calendars=[
            google_settings.CalendarChoice(calendar, "primary")])
        return connection

    def set_hidden(self, session: Session, hidden: bool) -> None:
        google_settings.update_settings(session, self.business, now=NOW,
                                        hide_client_details=hidden)

    def make_worker(self, n: int) -> Engine:
        return bridge(self.world, f"worker-{n}", unthrottled=True)

    def work(self) -> PassReport:
        return self.worker.work_connection(self.worker.provider("google"), self.connection,
                                           NOW, force_pull=True)

    def copy_id(self, booking: int) -> str | None:
        with self.runtime.db.read() as session:
            copy = session.execute(select(GoogleCopy).where(
                GoogleCopy.connection_id == self.connection, GoogleCopy.kind == "booking",
                GoogleCopy.item_id == booking)).scalar_one_or_none()
            return copy.event_id if copy is not None and not copy.deleted else None

    def _stored(self, event_id: str) -> dict[str, Any] | None:
        found = self.fake.event(self.user, event_id)
        return found if found is not None and found.get("status") != "cancelled" else None

    def exists(self, event_id: str) -> bool:
        return self._stored(event_id) is not None

    def edit_copy(self, event_id: str) -> None:
        self.fake.user_patch_event(self.user, event_id, {"summary": "edited in Google",
                                                         "transparency": "transparent"})

    def delete_event(self, event_id: str) -> None:
        self.fake.user_delete_event(self.user, event_id)

    def add_event(self, start: dt.datetime, summary: str) -> str:
        made = self.fake.user_insert_event(self.user, {
            "summary": summary, "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat()}})
        return str(made["id"])

    def move_event(self, event_id: str, hours: int) -> None:
        stored = self._stored(event_id)
        assert stored is not None
        start = aware(stored["start"]) + dt.timedelta(hours=hours)
        self.fake.user_patch_event(self.user, event_id, {
            "summary": f"Moved {hours:+d}", "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat()}})

    def inject(self, fault: Any, endpoint: str, times: int) -> None:
        self.fake.inject_fault(fault, endpoint=endpoint, times=times)

    def expire_cursor(self) -> None:
        self.fake.invalidate_sync_tokens(self.user)

    def clear_faults(self) -> None:
        self.fake.clear_faults()

    def held(self) -> tuple[list[Copy], set[tuple[str, str, dt.datetime]]]:
        google = self.fake.events(self.user)
        ours = [Copy(e["extendedProperties"]["private"][MARK], aware(e["start"]),
                     aware(e["end"]), e["summary"],
                     e.get("transparency", "opaque") == "opaque")
                for e in google if is_ours(e)]
        theirs = {(str(e["id"]), str(e.get("summary", "")), aware(e["start"]))
                  for e in google if not is_ours(e)}
        return ours, theirs

    def mirrored(self, session: Session) -> set[tuple[str, str, dt.datetime]]:
        return {(row.event_id, row.summary, row.start_utc) for row in session.execute(
            select(MirroredEvent).where(
                MirroredEvent.connection_id == self.connection)).scalars()}

    def pending(self, session: Session) -> int:
        return pending(session, session.get_one(GoogleConnection, self.connection), NOW)


def test_random_local_and_google_edits_with_faults_converge(world: World) -> None:
    run(lambda: GoogleConvergence(world))
    assert world.fake.internal_errors == []
