"""The convergence state machine every provider's test runs (test_google_convergence.py,
test_microsoft_convergence.py, test_caldav_convergence.py against real Radicale and Xandikos):
a random schedule of local and provider-side edits, setting
changes that rewrite every copy and injected faults converges: after a fault-free settling pass
the provider holds exactly one copy of each live booking, with the booking's time and the title
the settings call for, none of a cancelled or deleted one, and the mirrored events are exactly
the provider's events that are not ours.

A provider's subclass says how to connect an account, act in the provider's calendar, inject
its faults and read what it holds (`Copy`, `Theirs`). Each example gets a business of its own
connected to an account (or calendar) of its own, in the one database and fake of the test."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle, MultipleResults, RuleBasedStateMachine, consumes, initialize, multiple, rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Booking
from server.domain import bookings, businesses, calendars, clients, services
from server.runtime import Runtime
from server.sync.engine import Engine, PassReport
from support import NOW

TZ = "Europe/Copenhagen"
SLOTS = [(day, hour) for day in range(1, 11) for hour in (9, 11, 13, 15)]
SETTLE_PASSES = 4
accounts = itertools.count(1)


@dataclass(frozen=True)
class Copy:
    """One of our copies as the provider holds it."""

    ref: str  # "booking:7"
    start: dt.datetime
    end: dt.datetime
    summary: str
    busy: bool


def day_start(day: int) -> dt.datetime:
    """Local midnight-free date of slot day `day`: December 2026 for NOW (the injected
    clock)."""
    return dt.datetime.combine(NOW.date() + dt.timedelta(days=6 + day), dt.time())


class Convergence(RuleBasedStateMachine):
    """The rules; a provider's subclass fills in the hooks below."""

    FAULTS: list[Any] = []  # what `inject` takes, per provider
    ENDPOINTS: list[str] = []

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.live: dict[int, tuple[int, int]] = {}  # booking id -> slot
        self.with_client: set[int] = set()
        self.hidden = False
        self.gone: set[int] = set()  # cancelled or deleted bookings
        self.free = list(SLOTS)

    # --- hooks ---------------------------------------------------------------------------

    def open_account(self, session: Session, n: int, business: int, calendar: int) -> int:
        """Connect a fresh account for the business; its connection id."""
        raise NotImplementedError

    def set_hidden(self, session: Session, hidden: bool) -> None:
        raise NotImplementedError

    def make_worker(self, n: int) -> Engine:
        raise NotImplementedError

    def copy_id(self, booking: int) -> str | None:
        """The provider's id of our live copy of a booking, if any."""
        raise NotImplementedError

    def exists(self, event_id: str) -> bool:
        raise NotImplementedError

    def edit_copy(self, event_id: str) -> None:
        """Someone changes our copy (its title and busy state) in the provider."""
        raise NotImplementedError

    def delete_event(self, event_id: str) -> None:
        raise NotImplementedError

    def add_event(self, start: dt.datetime, summary: str) -> str:
        raise NotImplementedError

    def move_event(self, event_id: str, hours: int) -> None:
        raise NotImplementedError

    def inject(self, fault: Any, endpoint: str, times: int) -> None:
        raise NotImplementedError

    def expire_cursor(self) -> None:
        raise NotImplementedError

    def clear_faults(self) -> None:
        raise NotImplementedError

    def held(self) -> tuple[list[Copy], set[tuple[str, str, dt.datetime]]]:
        """(our copies, every other event as (id, summary, start)) in the provider."""
        raise NotImplementedError

    def mirrored(self, session: Session) -> set[tuple[str, str, dt.datetime]]:
        raise NotImplementedError

    def pending(self, session: Session) -> int:
        raise NotImplementedError

    def work(self) -> PassReport:
        return self.worker.work_connection(self.worker.providers[0], self.connection, NOW,
                                           force_pull=True)

    # --- the booking system --------------------------------------------------------------

    bookings_made = Bundle("bookings")
    user_events = Bundle("user_events")

    @initialize()
    def connect(self) -> None:
        n = next(accounts)
        with self.runtime.db.write() as session:
            self.business = businesses.create_business(session, name=f"Salon {n}",
                                                       timezone=TZ, now=NOW).id
            self.calendar = calendars.create_calendar(session, self.business, name="Anna",
                                                      now=NOW).id
            self.service = services.create_service(session, self.business, name="Cut",
                                                   duration_minutes=60, now=NOW).id
            self.client = clients.create_client(session, self.business, name="Ida Jensen",
                                                now=NOW).id
            self.connection = self.open_account(session, n, self.business, self.calendar)
        self.worker = self.make_worker(n)

    @rule(target=bookings_made, picks=st.lists(st.integers(0, len(SLOTS) - 1), min_size=1,
                                               max_size=3), with_client=st.booleans())
    def book(self, picks: list[int], with_client: bool) -> MultipleResults[int]:
        made = []
        with self.runtime.db.write() as session:
            for pick in picks:
                day, hour = self.free.pop(pick % len(self.free))
                booking = bookings.create_booking(
                    session, self.business, calendar_id=self.calendar,
                    service_id=self.service, start=day_start(day).replace(hour=hour), now=NOW,
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
        day, hour = self.free.pop(pick % len(self.free))
        with self.runtime.db.write() as session:
            bookings.update_booking(session, self.business, booking, now=NOW,
                                    start=day_start(day).replace(hour=hour))
        self.free.append(self.live[booking])
        self.live[booking] = (day, hour)

    @rule(booking=consumes(bookings_made), delete=st.booleans())
    def cancel(self, booking: int, delete: bool) -> None:
        if booking not in self.live:
            return
        with self.runtime.db.write() as session:
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
        with self.runtime.db.write() as session:
            self.set_hidden(session, self.hidden)

    # --- someone in the provider's calendar ----------------------------------------------

    @rule(booking=bookings_made)
    def edit_our_copy(self, booking: int) -> None:
        event_id = self.copy_id(booking)
        if event_id is not None and self.exists(event_id):
            self.edit_copy(event_id)

    @rule(booking=bookings_made)
    def delete_our_copy(self, booking: int) -> None:
        event_id = self.copy_id(booking)
        if event_id is not None and self.exists(event_id):
            self.delete_event(event_id)

    @rule(target=user_events, day=st.integers(1, 20), hour=st.integers(6, 20))
    def add_user_event(self, day: int, hour: int) -> str:
        start = day_start(day).replace(hour=hour, tzinfo=dt.timezone.utc)
        return self.add_event(start, f"Private {day}/{hour}")

    @rule(event_id=user_events, hours=st.integers(-5, 5))
    def change_user_event(self, event_id: str, hours: int) -> None:
        if self.exists(event_id):
            self.move_event(event_id, hours)

    @rule(event_id=consumes(user_events))
    def delete_user_event(self, event_id: str) -> None:
        if self.exists(event_id):
            self.delete_event(event_id)

    # --- faults and passes ---------------------------------------------------------------

    @rule(faults=st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99),
                                     st.integers(1, 6)), max_size=3),
          expire_cursor=st.booleans())
    def bridge_pass(self, faults: list[tuple[int, int, int]], expire_cursor: bool) -> None:
        """A pass with faults: it may fail, but never deletes anything locally. Faults not
        used up stay for the next pass (the settling pass clears them)."""
        for fault, endpoint, times in faults:
            self.inject(self.FAULTS[fault % len(self.FAULTS)],
                        self.ENDPOINTS[endpoint % len(self.ENDPOINTS)], times)
        if expire_cursor:
            self.expire_cursor()
        with self.runtime.db.read() as session:
            before = set(session.execute(select(Booking.id).where(
                Booking.business_id == self.business)).scalars())
        self.work()
        with self.runtime.db.read() as session:
            assert set(session.execute(select(Booking.id).where(
                Booking.business_id == self.business)).scalars()) == before

    @rule()
    def settle(self) -> None:
        """Faults stop; the bridge settles; both sides show the same picture."""
        self.clear_faults()
        for _ in range(SETTLE_PASSES):
            report = self.work()
            assert report.error is None, report.error
            assert report.pushed is not None and report.pulled is not None
            if report.pushed.writes == 0 and report.pulled.copies_to_restore == 0:
                break
        else:
            raise AssertionError(f"no quiet pass after {SETTLE_PASSES} passes")
        self.check()

    def check(self) -> None:
        ours, theirs = self.held()
        refs = [copy.ref for copy in ours]
        assert len(refs) == len(set(refs)), f"duplicated copies: {sorted(refs)}"
        assert set(refs) == {f"booking:{b}" for b in self.live}, (refs, self.live)
        with self.runtime.db.read() as session:
            for copy in ours:
                booking = session.get(Booking, int(copy.ref.split(":")[1]))
                assert booking is not None and booking.status == "confirmed"
                assert copy.start == booking.start_utc
                assert copy.end == booking.end_utc
                shown = booking.id in self.with_client and not self.hidden
                assert copy.summary == ("Cut – Ida Jensen" if shown else "Cut")
                assert copy.busy
            assert self.pending(session) == 0
            assert self.mirrored(session) == theirs

    def teardown(self) -> None:
        self.settle()


def run(machine: Any, *, max_examples: int = 6, steps: int = 30) -> None:
    """Run a provider's machine: a few derandomised examples, no shrinking (each try replays
    the provider and the database; a failing schedule is printed step by step as it is).
    Providers reached over real servers (CalDAV) run fewer, shorter examples."""
    run_state_machine_as_test(machine, settings=settings(
        max_examples=max_examples, stateful_step_count=steps, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate]))
