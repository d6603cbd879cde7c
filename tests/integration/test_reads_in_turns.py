"""Reads that span turns (server/sync/reading.py): the bridge lists at most a turn's worth of a
calendar's events per pass, stores them, notes where it stopped and asks for the next turn, so
one business's huge first import neither holds a pass, a thread nor the memory of all its
events (issue 20, fair sharing). Google and Microsoft Graph (the providers that page), through
the engine's own loop over their fakes on loopback, on SQLite and PostgreSQL, on the injected
clock.

What must hold: every event arrives, each page is fetched once and in order (the next turn goes
on from the provider's page, also in another bridge process); the business's bookings are
written between turns; a full read over several turns removes only at its end what it never
listed, and brings back our copy deleted meanwhile; a page the provider no longer knows starts
the read over; a one-off sync reads to the end."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import select

from fakes import FakeGoogle
from fakes.microsoft_fake import FakeMicrosoft
from google_world import World, make_world, no_sleep_api
from microsoft_world import CALENDAR, MicrosoftWorld, make_microsoft_world
from server.clock import FixedClock
from server.google.provider import GoogleProvider
from server.sync import status
from server.sync.engine import Engine, PassReport
from test_sync_engine import GoogleRemote, MicrosoftRemote, Remote

PAGE = 10  # events per provider page here
TURN = 25  # events per turn here: three pages (a turn ends on a whole page)
EVENTS = 83  # nine pages, four turns


@dataclass
class Harness:
    world: World | MicrosoftWorld
    remote: Remote
    engine: Engine
    list_requests: Callable[[], list[str]]  # the listing requests so far (their paths)
    expire_pages: Callable[[], None]  # every page handed out so far is refused from now on
    fail_list_once: Callable[[int], None]  # the next listing request answers this status

    @property
    def clock(self) -> FixedClock:
        clock = self.world.runtime.clock
        assert isinstance(clock, FixedClock)
        return clock

    def bridge(self, worker: str, **options: Any) -> Engine:
        """Another bridge process's engine over the same provider."""
        return Engine(self.world.runtime, worker=worker, providers=self.engine.providers,
                      turn_items=TURN, **options)

    def loop_pass(self, engine: Engine | None = None) -> list[PassReport]:
        """One pass of the bridge's loop (its quick looks find the due connections); the
        clock moves on a second first, as it does between passes."""
        self.clock.advance(dt.timedelta(seconds=1))
        reports = (engine or self.engine).run_once(quick=True)
        for report in reports:
            assert report.error is None, report.error
        return reports

    def state(self) -> Any:
        table = self.engine.providers[0].tables.read_state
        with self.world.runtime.db.read() as session:
            [state] = session.execute(select(table)).scalars()
            session.expunge(state)
            return state

    def mirrored(self) -> set[str]:
        table = self.engine.providers[0].tables.mirrored
        with self.world.runtime.db.read() as session:
            return set(session.execute(select(table.event_id)).scalars())

    def add_events(self, count: int, day: int = 3) -> list[str]:
        start = self.world.now + dt.timedelta(days=day)
        return [self.remote.add_event(start + dt.timedelta(minutes=30 * n),
                                      start + dt.timedelta(minutes=30 * n + 15))
                for n in range(count)]


@contextmanager
def google_harness(folder: Path, database_url: str) -> Iterator[Harness]:
    with FakeGoogle() as fake, make_world(folder, database_url, fake) as world:
        fake.page_size_cap = PAGE
        adapter = GoogleProvider(world.runtime, api_factory=no_sleep_api)
        engine = Engine(world.runtime, worker="bridge-a", providers=[adapter], turn_items=TURN)

        def listed() -> list[str]:
            return [request.path + "?" + ",".join(request.query.get("pageToken", []))
                    for request in fake.requests("calendar.events.list")]

        def fail(status: int) -> None:
            fake.inject_fault(str(status), endpoint="calendar.events.list")
        yield Harness(world, GoogleRemote(world), engine, listed, fake.expire_page_tokens, fail)
        assert fake.internal_errors == []


@contextmanager
def microsoft_harness(folder: Path, database_url: str) -> Iterator[Harness]:
    with FakeMicrosoft() as fake, make_microsoft_world(folder, database_url, fake) as world:
        fake.mailbox.max_page_size = PAGE
        engine = Engine(world.runtime, worker="bridge-a", providers=[world.provider()],
                        turn_items=TURN)

        def listed() -> list[str]:
            return [request.path + "?" + request.query
                    for request in fake.requests("GET */calendarView/delta*")]

        def fail(status: int) -> None:
            fake.fail(status, "GET */calendarView/delta*")
        yield Harness(world, MicrosoftRemote(world), engine, listed, fake.mailbox.expire_tokens,
                      fail)
        assert fake.internal_errors == []


HARNESSES = {"google": google_harness, "microsoft": microsoft_harness}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path, database_url: str
            ) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path, database_url) as made:
        yield made


def reading_lines(harness: Harness) -> list[tuple[int | None, str]]:
    """Each "reading" line of `bookingcal sync status`: the events read so far by a read under
    way, and the line as printed."""
    world = harness.world
    with world.runtime.db.read() as session:
        lines = status.overview(session, world.runtime.config, world.runtime.clock.now())
    rendered = status.render(lines, world.runtime.clock.now())[1:]
    return [(line.read_so_far, text) for line, text in zip(lines, rendered)
            if line.role == status.READING]


def read_to_the_end(harness: Harness, engine: Engine | None = None) -> list[Any]:
    """The reads of the bridge loop's passes until one reads every calendar to its end."""
    reads = [pulled(harness.loop_pass(engine))]
    while reads[-1].continuing:
        reads.append(pulled(harness.loop_pass(engine)))
        assert len(reads) < 10, "the import never ends"
    return reads


def pulled(reports: list[PassReport]) -> Any:
    [report] = reports
    assert report.pulled is not None, "the pass did not read"
    return report.pulled


def test_a_first_import_goes_on_turn_after_turn_and_bookings_go_out_between(
        harness: Harness) -> None:
    events = set(harness.add_events(EVENTS))
    booking = harness.world.book(1, 10)
    first = harness.loop_pass()
    read = pulled(first)
    # One turn: whole pages up to TURN events, stored; the rest waits for the next turn.
    assert read.imported == 30 and read.continuing and not read.calendars
    assert len(harness.mirrored()) == 30
    state = harness.state()
    assert state.page_token and state.sync_token is None and state.pull_requested
    assert state.read_full and state.read_items == 30
    # `bookingcal sync status` and the admin's Sync health page tell the read is under way.
    [(so_far, printed)] = reading_lines(harness)
    assert so_far == 30 and printed.endswith("reading: 30 events so far")
    # The business's own booking went out in the same pass, not after the import.
    [report] = first
    assert report.pushed is not None and report.pushed.inserted == 1
    assert f"booking:{booking}" in harness.remote.copies()
    imported = [read.imported]
    while read.continuing:
        read = pulled(harness.loop_pass())
        imported.append(read.imported)
        assert len(imported) < 10, "the import never ends"
    assert imported == [30, 30, 23]
    assert harness.mirrored() == events
    state = harness.state()
    assert state.page_token is None and state.sync_token
    assert state.read_started_at is None and not state.read_full and state.read_items == 0
    [(so_far, printed)] = reading_lines(harness)
    assert so_far is None and "so far" not in printed
    # Every page was fetched once: no turn started the listing over.
    requests = harness.list_requests()
    assert len(requests) == 9 and len(set(requests)) == 9
    # The calendar still asks for one read (a notification during the last turn would have
    # been lost otherwise): incremental, one request; then nothing is due.
    assert state.pull_requested
    read = pulled(harness.loop_pass())
    assert read.imported == 0 and read.calendars and len(harness.list_requests()) == 10
    assert harness.loop_pass() == []  # the poll interval has not passed
    # Read to its end, the calendar is read incrementally again: a new event, one request.
    [later] = harness.add_events(1, day=5)
    harness.clock.advance(dt.timedelta(minutes=10))
    read = pulled(harness.loop_pass())
    assert read.imported == 1 and harness.mirrored() == events | {later}
    assert len(harness.list_requests()) == 11


def test_a_failed_turn_does_not_stop_the_read(harness: Harness) -> None:
    """A turn that fails (the provider down for a moment) leaves the read asking: once its
    backoff has passed, the next pass goes on from the page reached, not at the next poll."""
    events = set(harness.add_events(EVENTS))
    assert pulled(harness.loop_pass()).continuing
    harness.fail_list_once(503)
    harness.clock.advance(dt.timedelta(seconds=1))
    [failed] = harness.engine.run_once(quick=True)
    assert failed.pulled is None and failed.error and "reading" in failed.error
    assert harness.state().page_token and harness.state().pull_requested
    # Past the read's backoff (at most a second after one failure), well before the next poll
    # (a minute): the read goes on.
    harness.clock.advance(dt.timedelta(seconds=4))
    reads = read_to_the_end(harness)
    assert [read.imported for read in reads] == [30, 23]
    assert harness.mirrored() == events


def test_a_calendar_refused_mid_read_waits_for_the_poll(harness: Harness) -> None:
    """The provider refuses the calendar itself mid-read (404: no longer shared): its error
    shows, and the read does not ask again at every pass (a request each half second against
    a refused calendar); at the next poll it goes on from the page reached."""
    events = set(harness.add_events(EVENTS))
    assert pulled(harness.loop_pass()).continuing
    harness.fail_list_once(404)
    failed = pulled(harness.loop_pass())
    assert failed.failed and not failed.continuing
    state = harness.state()
    assert state.last_error and state.page_token and not state.pull_requested
    requests = len(harness.list_requests())
    for _ in range(3):
        assert harness.loop_pass() == []  # nothing due within the poll interval
    assert len(harness.list_requests()) == requests
    harness.clock.advance(dt.timedelta(minutes=1))
    reads = read_to_the_end(harness)
    assert [read.imported for read in reads] == [30, 23]
    assert harness.mirrored() == events and harness.state().last_error is None


def test_another_bridge_process_goes_on_from_the_page_reached(harness: Harness) -> None:
    events = set(harness.add_events(EVENTS))
    assert pulled(harness.loop_pass()).continuing
    # This process stops (its memory is gone); another one finds the read asked for and goes
    # on from the stored page.
    other = harness.bridge("bridge-b")
    reads = read_to_the_end(harness, other)
    assert [read.imported for read in reads] == [30, 23]
    assert harness.mirrored() == events
    requests = harness.list_requests()
    assert len(requests) == 9 and len(set(requests)) == 9


def test_a_full_read_over_turns_removes_only_at_its_end_what_it_never_listed(
        harness: Harness) -> None:
    booking = harness.world.book(1, 10)
    kept = set(harness.add_events(EVENTS))
    vanishing = harness.add_events(2, day=6)
    read = pulled(harness.loop_pass())
    while read.continuing:
        read = pulled(harness.loop_pass())
    assert harness.mirrored() == kept | set(vanishing)
    # The cursor expires; meanwhile two events and our copy are deleted: no incremental read
    # will ever tell. The full read that follows takes four turns.
    harness.remote.expire_cursors()
    for remote_id in vanishing:
        harness.remote.delete(remote_id)
    [copy] = harness.remote.copies()[f"booking:{booking}"]
    harness.remote.delete(copy.remote_id)
    harness.clock.advance(dt.timedelta(minutes=10))
    read = pulled(harness.loop_pass())
    assert read.continuing and read.removed == 0
    assert harness.mirrored() == kept | set(vanishing)  # nothing removed before the end
    restored = 0
    while read.continuing:
        read = pulled(harness.loop_pass())
        restored += read.copies_to_restore
    assert read.removed == 2 and harness.mirrored() == kept
    assert restored == 1
    harness.loop_pass()  # the copy is written again, once
    assert len(harness.remote.copies()[f"booking:{booking}"]) == 1
    # The next full read over turns lists the copy: nothing is written again.
    harness.remote.expire_cursors()
    harness.clock.advance(dt.timedelta(minutes=10))
    read = pulled(harness.loop_pass())
    restored = read.copies_to_restore
    while read.continuing:
        read = pulled(harness.loop_pass())
        restored += read.copies_to_restore
    assert restored == 0 and read.removed == 0 and harness.mirrored() == kept


def test_a_page_the_provider_no_longer_knows_starts_the_read_over(harness: Harness) -> None:
    events = set(harness.add_events(EVENTS))
    assert pulled(harness.loop_pass()).continuing
    before = len(harness.list_requests())
    harness.expire_pages()
    read = pulled(harness.loop_pass())
    # The refused page, then the listing from its beginning: a new read of three pages.
    assert read.continuing and read.imported == 30
    assert len(harness.list_requests()) == before + 4
    while read.continuing:
        read = pulled(harness.loop_pass())
    assert harness.mirrored() == events
    state = harness.state()
    assert state.page_token is None and state.sync_token


def test_a_one_off_sync_reads_to_the_end(harness: Harness) -> None:
    events = set(harness.add_events(EVENTS))
    one_off = harness.bridge("sync-once", unthrottled=True)
    [report] = one_off.run_once(force_pull=True)
    assert report.error is None and report.pulled is not None
    assert report.pulled.imported == EVENTS and not report.pulled.continuing
    assert report.pulled.calendars == [harness.state().google_calendar]
    assert harness.mirrored() == events
    assert harness.state().page_token is None
