"""Writes to a Google calendar that fails on its own (404 gone, 403 read-only) back off per
calendar, 1 min doubling up to 1 h, while the connection's other calendars sync every pass; a
successful write or a settings change for that calendar resets the backoff; the JSON status and
`google status` say "retrying in N min"."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from google_world import World, bridge, run_cli
from server.clock import FixedClock
from server.db.models import GoogleCalendarMap
from server.domain import bookings, calendars
from server.google import settings
from server.google.copies import is_ours
from support import NOW, Api, start_server

GONE = "gone@group.calendar.google.com"


def clock(world: World) -> FixedClock:
    assert isinstance(world.runtime.clock, FixedClock)
    return world.runtime.clock


def book(world: World, calendar_id: int, day: int) -> None:
    with world.runtime.db.write() as session:
        bookings.create_booking(session, world.business, calendar_id=calendar_id,
                                service_id=world.service, start=dt.datetime(2026, 12, day, 10),
                                now=NOW)


def bo_map(world: World, bo: int) -> tuple[int, dt.datetime | None, str | None]:
    with world.runtime.db.read() as session:
        row = session.query(GoogleCalendarMap).filter_by(calendar_id=bo).one()
        return row.failures, row.retry_at, row.last_error


def gone_writes(world: World) -> int:
    """Write calls the fake received for the missing calendar."""
    return sum(1 for request in world.fake.requests()
               if GONE in request.path and request.method in ("POST", "PUT", "PATCH"))


def test_a_failing_calendar_backs_off_while_others_sync(
        world: World, tmp_path: Path, database_url: str) -> None:
    with world.runtime.db.write() as session:
        bo = calendars.create_calendar(session, world.business, name="Bo", now=NOW).id
        settings.update_settings(session, world.business, now=NOW, direction="to_google",
                                 calendars=[settings.CalendarChoice(world.anna, "primary"),
                                            settings.CalendarChoice(bo, GONE)])
    book(world, bo, 4)
    [first] = bridge(world).run_once()
    assert first.pushed is not None and len(first.pushed.failed) == 1
    tried = gone_writes(world)
    assert tried >= 1
    start = clock(world).now()
    assert bo_map(world, bo)[:2] == (1, start + dt.timedelta(minutes=1))

    # Within the minute: Anna's new booking goes out, Bo's calendar is not called.
    clock(world).advance(dt.timedelta(seconds=30))
    book(world, world.anna, 5)
    [waiting] = bridge(world).run_once()
    assert waiting.pushed is not None
    assert (waiting.pushed.inserted, waiting.pushed.failed) == (1, [])
    assert gone_writes(world) == tried
    failures, retry_at, error = bo_map(world, bo)
    assert (failures, retry_at) == (1, start + dt.timedelta(minutes=1))
    assert error is not None and "was not found" in error  # still shown while waiting

    # Then tried again; each further failure doubles the wait, up to one hour.
    waits = []
    for _ in range(8):
        clock(world).instant = retry_at
        [again] = bridge(world).run_once()
        assert again.pushed is not None and len(again.pushed.failed) == 1
        failures, next_retry, _ = bo_map(world, bo)
        assert next_retry is not None
        waits.append(int((next_retry - clock(world).now()).total_seconds() // 60))
        retry_at = next_retry
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60]
    assert failures == 9

    # Shown as "retrying in N min" in the JSON status and `google status`.
    clock(world).advance(dt.timedelta(minutes=15))
    live = start_server(world.runtime)
    try:
        status = Api(live.url).ok("GET", f"/businesses/{world.business}/google")
    finally:
        live.stop()
    by_name = {item["name"]: item for item in status["calendars"]}
    assert by_name["Bo"]["write_retry"] == "retrying in 45 min"
    assert by_name["Anna"]["write_retry"] is None
    shown = run_cli(tmp_path, database_url, "google", "status", str(world.business),
                    clock=world.runtime.clock)
    assert shown.exit_code == 0, shown.output
    assert re.search(r"^    writing retrying in \d+ min$", shown.output, re.M), shown.output
    assert shown.output.count("retrying in") == 1
    # `google sync` does not wait for it: it stops once passes make no progress.
    synced = run_cli(tmp_path, database_url, "google", "sync", str(world.business),
                     clock=world.runtime.clock)
    assert synced.exit_code != 0
    assert "sync stopped: 1 changes wait for Google calendars whose writes back off" \
        in synced.output, synced.output
    assert synced.output.count("pass ") == 2, synced.output

    # A settings change for that calendar resets the backoff: it is tried on the next pass.
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=NOW, calendars=[
            settings.CalendarChoice(world.anna, "primary"),
            settings.CalendarChoice(bo, GONE, "primary")])
    assert bo_map(world, bo) == (0, None, None)
    tried = gone_writes(world)
    [reset] = bridge(world).run_once()
    assert reset.pushed is not None and len(reset.pushed.failed) == 1
    assert gone_writes(world) > tried
    assert bo_map(world, bo)[:2] == (1, clock(world).now() + dt.timedelta(minutes=1))

    # A successful write resets it too.
    world.fake.add_calendar("Bo", calendar_id=GONE)
    clock(world).advance(dt.timedelta(minutes=1))
    [fixed] = bridge(world).run_once()
    assert fixed.pushed is not None and fixed.pushed.failed == []
    assert bo_map(world, bo) == (0, None, None)
    assert len([e for e in world.fake.events(GONE) if is_ours(e)]) == 1
