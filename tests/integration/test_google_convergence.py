"""A random schedule of local and Google-side edits, setting changes that rewrite every copy and
injected faults converges: after a fault-free settling pass Google holds exactly one copy of
each live booking, with the booking's time and the title the settings call for, none of a
cancelled or deleted one, and the mirrored events are exactly Google's events that are not
ours. A hypothesis state machine drives the bridge against the fake Google,
on SQLite and PostgreSQL.

Each example gets a business of its own connected to a Google account of its own (in the one
database and fake of the test), so examples start from nothing without paying for a new
database each time."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle, MultipleResults, RuleBasedStateMachine, consumes, initialize, multiple, rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from fakes import FaultKind
from google_world import TZ, World, bridge
from server.db.models import Booking, GoogleConnection, GoogleCopy, MirroredEvent
from server.domain import bookings, businesses, calendars, clients, services
from server.gcal_bridge import Bridge, pending
from server.google import oauth
from server.google import settings as google_settings
from server.google.copies import MARK, is_ours
from support import NOW

SLOTS = [(day, hour) for day in range(1, 11) for hour in (9, 11, 13, 15)]
FAULTS = [FaultKind.TOO_MANY_REQUESTS, FaultKind.SERVER_ERROR, FaultKind.UNAVAILABLE,
          FaultKind.RATE_LIMIT_EXCEEDED, FaultKind.LOST_RESPONSE_500, FaultKind.LOST_RESPONSE]
ENDPOINTS = ["calendar.events.insert", "calendar.events.update", "calendar.events.delete",
             "calendar.events.list", "batch"]
SETTLE_PASSES = 4
accounts = itertools.count(1)


def aware(text: dict[str, str]) -> dt.datetime:
    return dt.datetime.fromisoformat(text["dateTime"].replace("Z", "+00:00"))


class Convergence(RuleBasedStateMachine):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.fake = world.fake
        self.live: dict[int, tuple[int, int]] = {}  # booking id -> slot
        self.with_client: set[int] = set()
        self.hidden = False
        self.gone: set[int] = set()  # cancelled or deleted bookings
        self.free = list(SLOTS)

    bookings_made = Bundle("bookings")
    user_events = Bundle("user_events")

    @initialize()
    def connect(self) -> None:
        n = next(accounts)
        self.user = self.fake.add_user(f"owner{n}@example.com")
        with self.world.runtime.db.write() as session:
            self.business = businesses.create_business(session, name=f"Salon {n}",
                                                       timezone=TZ, now=NOW).id
            self.calendar = calendars.create_calendar(session, self.business, name="Anna",
                                                      now=NOW).id
            self.service = services.create_service(session, self.business, name="Cut",
                                                   duration_minutes=60, now=NOW).id
            self.client = clients.create_client(session, self.business, name="Ida Jensen",
                                                now=NOW).id
            self.connection = oauth.connect(session, self.world.runtime.keyring,
                                            self.business,
                                            self.fake.issue_tokens(user=self.user), NOW).id
            google_settings.update_settings(session, self.business, now=NOW, calendars=[
                google_settings.CalendarChoice(self.calendar, "primary")])
        self.worker: Bridge = bridge(self.world, f"worker-{n}", unthrottled=True)

    # --- the booking system ----------------------------------------------------------------

    @rule(target=bookings_made, picks=st.lists(st.integers(0, len(SLOTS) - 1), min_size=1,
                                               max_size=3), with_client=st.booleans())
    def book(self, picks: list[int], with_client: bool) -> MultipleResults[int]:
        made = []
        with self.world.runtime.db.write() as session:
            for pick in picks:
                day, hour = self.free.pop(pick % len(self.free))
                booking = bookings.create_booking(
                    session, self.business, calendar_id=self.calendar,
                    service_id=self.service, start=dt.datetime(2026, 12, day, hour), now=NOW,
                    client_id=self.client if with_client else None).id
                self.live[booking] = (day, hour)
                if with_client:
                    self.with_client.add(booking)
                made.append(booking)
        return multiple(*made)

    @rule(booking=bookings_made, pick=st.integers(0, len(SLOTS) - 1))
    def move(self, booking: int, pick: int) -> None:
        if booking not in self.live:
            return
        slot = self.free.pop(pick % len(self.free))
        with self.world.runtime.db.write() as session:
            bookings.update_booking(session, self.business, booking, now=NOW,
                                    start=dt.datetime(2026, 12, *slot))
        self.free.append(self.live[booking])
        self.live[booking] = slot

    @rule(booking=consumes(bookings_made), delete=st.booleans())
    def cancel(self, booking: int, delete: bool) -> None:
        if booking not in self.live:
            return
        with self.world.runtime.db.write() as session:
            if delete:
                bookings.delete_booking(session, self.business, booking, NOW)
            else:
                bookings.cancel_booking(session, self.business, booking, NOW)
        self.free.append(self.live.pop(booking))
        self.gone.add(booking)

    @rule()
    def toggle_client_details(self) -> None:
        """A setting that changes what every copy shows: all of them are written again."""
        self.hidden = not self.hidden
        with self.world.runtime.db.write() as session:
            google_settings.update_settings(session, self.business, now=NOW,
                                            hide_client_details=self.hidden)

    # --- someone in Google ----------------------------------------------------------------------

    def _copy(self, booking: int) -> str | None:
        with self.world.runtime.db.read() as session:
            copy = session.execute(select(GoogleCopy).where(
                GoogleCopy.connection_id == self.connection, GoogleCopy.kind == "booking",
                GoogleCopy.item_id == booking)).scalar_one_or_none()
            return copy.event_id if copy is not None and not copy.deleted else None

    def _stored(self, event_id: str) -> dict[str, Any] | None:
        found = self.fake.event(self.user, event_id)
        return found if found is not None and found.get("status") != "cancelled" else None

    @rule(booking=bookings_made)
    def edit_our_copy(self, booking: int) -> None:
        event_id = self._copy(booking)
        if event_id is not None and self._stored(event_id) is not None:
            self.fake.user_patch_event(self.user, event_id, {"summary": "edited in Google",
                                                             "transparency": "transparent"})

    @rule(booking=bookings_made)
    def delete_our_copy(self, booking: int) -> None:
        event_id = self._copy(booking)
        if event_id is not None and self._stored(event_id) is not None:
            self.fake.user_delete_event(self.user, event_id)

    @rule(target=user_events, day=st.integers(1, 20), hour=st.integers(6, 20))
    def add_user_event(self, day: int, hour: int) -> str:
        start = dt.datetime(2026, 12, day, hour, tzinfo=dt.timezone.utc)
        made = self.fake.user_insert_event(self.user, {
            "summary": f"Private {day}/{hour}", "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat()}})
        return str(made["id"])

    @rule(event_id=user_events, hours=st.integers(-5, 5))
    def change_user_event(self, event_id: str, hours: int) -> None:
        stored = self._stored(event_id)
        if stored is None:
            return
        start = aware(stored["start"]) + dt.timedelta(hours=hours)
        self.fake.user_patch_event(self.user, event_id, {
            "summary": f"Moved {hours:+d}", "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat()}})

    @rule(event_id=consumes(user_events))
    def delete_user_event(self, event_id: str) -> None:
        if self._stored(event_id) is not None:
            self.fake.user_delete_event(self.user, event_id)

    # --- faults and passes -----------------------------------------------------------------------

    @rule(faults=st.lists(st.tuples(st.sampled_from(FAULTS), st.sampled_from(ENDPOINTS),
                                     st.integers(1, 6)), max_size=3),
          expire_sync_token=st.booleans())
    def bridge_pass(self, faults: list[tuple[FaultKind, str, int]],
                    expire_sync_token: bool) -> None:
        """A pass with faults: it may fail, but never deletes anything locally. Faults not
        used up stay for the next pass (the settling pass clears them)."""
        for kind, endpoint, times in faults:
            self.fake.inject_fault(kind, endpoint=endpoint, times=times)
        if expire_sync_token:
            self.fake.invalidate_sync_tokens(self.user)
        with self.world.runtime.db.read() as session:
            before = set(session.execute(select(Booking.id).where(
                Booking.business_id == self.business)).scalars())
        self.worker.work(self.connection, NOW, force_pull=True)
        with self.world.runtime.db.read() as session:
            assert set(session.execute(select(Booking.id).where(
                Booking.business_id == self.business)).scalars()) == before

    @rule()
    def settle(self) -> None:
        """Faults stop; the bridge settles; both sides show the same picture."""
        self.fake.clear_faults()
        for _ in range(SETTLE_PASSES):
            report = self.worker.work(self.connection, NOW, force_pull=True)
            assert report.error is None, report.error
            assert report.pushed is not None and report.pulled is not None
            if report.pushed.writes == 0 and report.pulled.copies_to_restore == 0:
                break
        else:
            raise AssertionError(f"no quiet pass after {SETTLE_PASSES} passes")
        self.check()

    def check(self) -> None:
        google = self.fake.events(self.user)
        ours = [e for e in google if is_ours(e)]
        refs = [e["extendedProperties"]["private"][MARK] for e in ours]
        assert len(refs) == len(set(refs)), f"duplicated copies: {sorted(refs)}"
        assert set(refs) == {f"booking:{b}" for b in self.live}, (refs, self.live)
        with self.world.runtime.db.read() as session:
            for event in ours:
                booking = session.get(Booking, int(event["extendedProperties"]["private"][MARK]
                                                   .split(":")[1]))
                assert booking is not None and booking.status == "confirmed"
                assert aware(event["start"]) == booking.start_utc
                assert aware(event["end"]) == booking.end_utc
                shown = booking.id in self.with_client and not self.hidden
                assert event["summary"] == ("Cut – Ida Jensen" if shown else "Cut")
                assert event.get("transparency", "opaque") == "opaque"
            assert pending(session, session.get_one(GoogleConnection, self.connection),
                           NOW) == 0
            mirrored = {(row.event_id, row.summary, row.start_utc) for row in session.execute(
                select(MirroredEvent).where(
                    MirroredEvent.connection_id == self.connection)).scalars()}
        theirs = {(str(e["id"]), str(e.get("summary", "")), aware(e["start"]))
                  for e in google if not is_ours(e)}
        assert mirrored == theirs

    def teardown(self) -> None:
        self.settle()


def test_random_local_and_google_edits_with_faults_converge(world: World) -> None:
    run_state_machine_as_test(lambda: Convergence(world), settings=settings(
        max_examples=6, stateful_step_count=30, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(HealthCheck),
        # No shrinking: each try replays Google and the database, and the failing schedule is
        # printed step by step as it is.
        phases=[Phase.explicit, Phase.reuse, Phase.generate]))
    assert world.fake.internal_errors == []
