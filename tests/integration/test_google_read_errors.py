"""An error reading a Google calendar is shown only while the connection reads that calendar:
it goes when the direction changes to to_google (and busy times do not block online booking,
which reads whatever the direction), or when no employee calendar reads it any more."""

from __future__ import annotations

from google_world import World, bridge
from server.db.models import GoogleConnection
from server.domain import calendars
from server.google import settings
from support import NOW, Api, start_server

GONE = "gone@group.calendar.google.com"


def read_errors(world: World) -> dict[str, str | None]:
    """Each employee calendar's read error, as the JSON status shows it."""
    live = start_server(world.runtime)
    try:
        status = Api(live.url).ok("GET", f"/businesses/{world.business}/google")
    finally:
        live.stop()
    return {item["name"]: item["read_error"] for item in status["calendars"]}


def failing_read(world: World) -> int:
    """Bo reads a Google calendar that does not exist; after a pass its read error shows."""
    with world.runtime.db.write() as session:
        bo = calendars.create_calendar(session, world.business, name="Bo", now=NOW).id
        settings.update_settings(session, world.business, now=NOW, calendars=[
            settings.CalendarChoice(world.anna, "primary"),
            settings.CalendarChoice(bo, "primary", GONE)])
    [report] = bridge(world).run_once(force_pull=True)
    assert report.pulled is not None and report.pulled.failed == [GONE]
    errors = read_errors(world)
    assert errors["Anna"] is None
    assert errors["Bo"] is not None and "was not found" in errors["Bo"]
    return bo


def test_direction_to_google_clears_a_read_error_unless_busy_times_block(world: World) -> None:
    failing_read(world)
    # To Google, but busy Google events block online booking: still read, the error stays.
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=NOW, direction="to_google",
                                 block_online_booking=True)
    bridge(world).run_once(force_pull=True)
    assert read_errors(world)["Bo"] is not None
    # Nothing read any more: the error goes, and later passes do not bring it back.
    with world.runtime.db.write() as session:
        connection = settings.update_settings(session, world.business, now=NOW,
                                              block_online_booking=False)
        assert not settings.reads(connection)
    assert read_errors(world) == {"Anna": None, "Bo": None}
    [report] = bridge(world).run_once(force_pull=True)
    assert report.pulled is None and report.error is None
    assert read_errors(world) == {"Anna": None, "Bo": None}
    # Reading again: the calendar is still missing, so the error is shown again.
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=NOW, direction="both")
        connection = session.get(GoogleConnection, world.connection)
        assert connection is not None and settings.reads(connection)
    bridge(world).run_once(force_pull=True)
    assert read_errors(world)["Bo"] is not None


def test_a_calendar_no_longer_read_loses_its_read_error(world: World) -> None:
    bo = failing_read(world)
    with world.runtime.db.write() as session:
        settings.update_settings(session, world.business, now=NOW, calendars=[
            settings.CalendarChoice(world.anna, "primary"),
            settings.CalendarChoice(bo, "primary")])  # Bo now reads the primary calendar
    assert read_errors(world) == {"Anna": None, "Bo": None}
    [report] = bridge(world).run_once(force_pull=True)
    assert report.pulled is not None and report.pulled.failed == []
    assert read_errors(world) == {"Anna": None, "Bo": None}
