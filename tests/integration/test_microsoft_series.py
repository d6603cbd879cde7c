"""Repeating blocked time reaches Outlook as one series (Graph's patternedRecurrence, its local
hour kept in a Windows time zone across daylight saving time), its occurrences read back are
recognised as ours (never mirrored, never blocking); a changed rule moves the series and the
occurrences it no longer has are removed; a series that stops repeating becomes one event; a
rule Outlook cannot say is an item error naming why; and a series made in Outlook is mirrored
occurrence by occurrence (its master's id kept), and leaves when deleted. Against the fake
Graph's series (tests/fakes/microsoft_series.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from fakes.microsoft_fake import FakeMicrosoft
from microsoft_world import CALENDAR, TZ, MicrosoftWorld, make_microsoft_world
from server.db.models import MicrosoftMirroredEvent
from server.domain import blocked
from server.microsoft.status import calendar_status
from server.db.models import MicrosoftConnection
from server.sync.engine import Engine, PassReport

LOCAL = ZoneInfo(TZ)


@pytest.fixture
def ms(tmp_path: Path, database_url: str) -> Iterator[MicrosoftWorld]:
    with FakeMicrosoft() as fake, make_microsoft_world(tmp_path, database_url, fake) as world:
        yield world
        assert fake.internal_errors == []


def sync(world: MicrosoftWorld) -> PassReport:
    [report] = Engine(world.runtime, worker="series", unthrottled=True,
                      providers=[world.provider()]).run_once(force_pull=True)
    return report


def repeating(world: MicrosoftWorld, rrule: str, **extra: object) -> int:
    start = dt.datetime.combine(world.first_day, dt.time(12))
    with world.runtime.db.write() as session:
        return blocked.create_blocked(session, world.business, calendar_id=world.anna,
                                      start=start, end=start + dt.timedelta(hours=1),
                                      now=world.now, title="Lunch", rrule=rrule,
                                      **extra).id  # type: ignore[arg-type]


def mirrored(world: MicrosoftWorld) -> list[MicrosoftMirroredEvent]:
    with world.runtime.db.read() as session:
        rows = list(session.execute(select(MicrosoftMirroredEvent).order_by(
            MicrosoftMirroredEvent.start_utc)).scalars())
        session.expunge_all()
    return rows


def occurrences(world: MicrosoftWorld) -> list[dict[str, object]]:
    box = world.fake.mailbox
    state = box.delta_start(CALENDAR, world.now - dt.timedelta(days=1),
                            world.now + dt.timedelta(days=400))
    found, _, _ = box.delta_page(state, skip=True, size=1000)
    return [item for item in found if item.get("type") == "occurrence"]


def test_a_repeating_blocked_time_is_one_outlook_series_that_keeps_its_hour(
        ms: MicrosoftWorld) -> None:
    # Weekly from a week ahead, 30 times: it crosses the spring change of the clocks.
    repeating(ms, f"FREQ=WEEKLY;BYDAY={ms.first_day.strftime('%a').upper()[:2]};COUNT=30")
    report = sync(ms)
    assert report.error is None and report.pushed is not None and report.pushed.inserted == 1
    [master] = ms.fake.mailbox.live(CALENDAR)
    recurrence = master.data["recurrence"]
    assert recurrence["pattern"]["type"] == "weekly"
    assert recurrence["range"] == {"type": "numbered", "numberOfOccurrences": 30,
                                   "startDate": ms.first_day.isoformat(),
                                   "recurrenceTimeZone": master.data["start"]["timeZone"]}
    assert master.data["start"]["timeZone"] != "UTC"
    assert master.data["start"]["dateTime"].endswith("T12:00:00")
    found = occurrences(ms)
    assert len(found) == 30
    hours = {dt.datetime.fromisoformat(str(o["start"]["dateTime"])[:19])  # type: ignore[index]
             .replace(tzinfo=dt.timezone.utc).astimezone(LOCAL).hour for o in found}
    assert hours == {12}  # 11:00 UTC in winter, 10:00 UTC in summer: always noon locally
    # Read back: ours (their series is our copy), nothing mirrored, nothing blocks.
    again = sync(ms)
    assert again.error is None and again.pulled is not None
    assert mirrored(ms) == []
    assert again.pushed is not None and again.pushed.writes == 0


def test_a_changed_rule_moves_the_series_and_removes_what_it_no_longer_has(
        ms: MicrosoftWorld) -> None:
    item = repeating(ms, "FREQ=DAILY;COUNT=5")
    sync(ms)
    before = {str(o["id"]) for o in occurrences(ms)}
    with ms.runtime.db.write() as session:
        blocked.update_blocked(session, ms.business, item, now=ms.now,
                               rrule="FREQ=DAILY;INTERVAL=2;COUNT=3")
    report = sync(ms)
    assert report.error is None and report.pushed is not None and report.pushed.updated == 1
    after = {str(o["id"]) for o in occurrences(ms)}
    assert len(after) == 3 and after < before
    [master] = ms.fake.mailbox.live(CALENDAR)
    assert master.former == before - after  # listed as removed by the next delta read
    assert sync(ms).error is None and mirrored(ms) == []
    with ms.runtime.db.write() as session:  # it stops repeating: one event again
        blocked.update_blocked(session, ms.business, item, now=ms.now, clear_rrule=True)
    assert sync(ms).error is None
    [single] = ms.fake.mailbox.live(CALENDAR)
    assert "recurrence" not in single.data and occurrences(ms) == []
    assert sync(ms).error is None and mirrored(ms) == []


def test_a_rule_outlook_cannot_say_is_an_item_error_naming_why(ms: MicrosoftWorld) -> None:
    repeating(ms, "FREQ=MONTHLY;BYMONTHDAY=1,15;COUNT=4")
    report = sync(ms)
    assert report.pushed is not None and len(report.pushed.failed) == 1
    assert ms.fake.mailbox.live(CALENDAR) == []
    with ms.runtime.db.read() as session:
        connection = session.get_one(MicrosoftConnection, ms.connection)
        [status] = calendar_status(session, connection, ms.now)
    [failing] = status.failing
    assert failing.kind == "blocked" and "one day of the month" in failing.error


def test_a_series_made_in_outlook_is_mirrored_occurrence_by_occurrence(
        ms: MicrosoftWorld) -> None:
    start = dt.datetime.combine(ms.first_day, dt.time(9))
    master = ms.fake.user_add(CALENDAR, {
        "subject": "Team meeting", "showAs": "busy",
        "start": {"dateTime": start.isoformat(), "timeZone": "Romance Standard Time"},
        "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat(),
                "timeZone": "Romance Standard Time"},
        "recurrence": {"pattern": {"type": "weekly", "interval": 1,
                                   "daysOfWeek": [start.strftime("%A").lower()],
                                   "firstDayOfWeek": "monday"},
                       "range": {"type": "numbered", "numberOfOccurrences": 4,
                                 "startDate": ms.first_day.isoformat()}}})
    assert sync(ms).error is None
    rows = mirrored(ms)
    assert len(rows) == 4 and {row.recurring_event_id for row in rows} == {master}
    assert all(row.blocks and row.summary == "Team meeting" for row in rows)
    assert [row.start_utc.astimezone(LOCAL).hour for row in rows] == [9, 9, 9, 9]
    assert [row.start_utc.astimezone(LOCAL).date() for row in rows] == [
        ms.first_day + dt.timedelta(weeks=n) for n in range(4)]
    ms.fake.mailbox.delete(master)
    assert sync(ms).error is None
    assert mirrored(ms) == []


def test_the_fake_refuses_what_graph_refuses(ms: MicrosoftWorld) -> None:
    start = dt.datetime.combine(ms.first_day, dt.time(9))
    base = {"subject": "x", "start": {"dateTime": start.isoformat(), "timeZone": TZ},
            "end": {"dateTime": (start + dt.timedelta(hours=1)).isoformat(), "timeZone": TZ}}
    from fakes.microsoft_errors import GraphError
    with pytest.raises(GraphError, match="TimeZone"):  # an IANA name outside Graph's list
        ms.fake.mailbox.create(CALENDAR, base)
    windows = {k: {**v, "timeZone": "Romance Standard Time"}  # type: ignore[dict-item]
               for k, v in base.items() if k in ("start", "end")}
    for bad in ({"pattern": {"type": "weekly", "interval": 1},
                 "range": {"type": "noEnd", "startDate": ms.first_day.isoformat()}},
                {"pattern": {"type": "daily", "interval": 1},
                 "range": {"type": "noEnd", "startDate": "2000-01-01"}}):
        with pytest.raises(GraphError, match="daysOfWeek|startDate"):
            ms.fake.mailbox.create(CALENDAR, {**base, **windows, "recurrence": bad})
