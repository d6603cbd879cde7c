"""The pure availability computation (server/domain/availability.py) on hand-made schedules:
slots, the reasons a start is refused, the explain timeline and its runs, freshness text."""

from __future__ import annotations

import datetime as dt

from server.domain.availability import (
    BLOCKED, BOOKING, BUFFER, GOOGLE, HORIZON, NOTICE, OUTSIDE_HOURS, Busy, Rules, Schedule,
    describe, describe_age, refusals, refused, slots, timeline,
)
from server.domain.timeutil import wall_to_utc

UTC = dt.timezone.utc
TZ = "Europe/Copenhagen"
NOW = dt.datetime(2026, 11, 24, 8, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 26) -> dt.datetime:
    return wall_to_utc(dt.datetime(2026, 11, day, hour, minute), TZ)


def rules(minutes: int = 60, before: int = 0, after: int = 0, step: int = 60,
          notice: int = 60, horizon: int = 90) -> Rules:
    return Rules(dt.timedelta(minutes=minutes), dt.timedelta(minutes=before),
                 dt.timedelta(minutes=after), dt.timedelta(minutes=step),
                 dt.timedelta(minutes=notice), dt.timedelta(days=horizon))


def schedule(*busy: Busy, opens: int = 9, closes: int = 13) -> Schedule:
    return Schedule(calendar_id=1, timezone=TZ, start=at(0), end=at(0, day=27),
                    open=[(at(opens), at(closes))], busy=list(busy))


def hours_of(found: list[dt.datetime]) -> list[int]:
    return [(moment + dt.timedelta(hours=1)).hour for moment in found]


def test_free_day_offers_every_step_that_fits() -> None:
    assert hours_of(slots(schedule(), rules(), NOW)) == [9, 10, 11, 12]
    assert len(slots(schedule(), rules(minutes=45, step=15), NOW)) == 14  # 09:00 .. 12:15


def test_buffers_of_the_service_and_of_the_booking_both_count() -> None:
    booking = Busy(BOOKING, "7", at(10, 30), at(11, 30), core=(at(10, 30), at(11)))
    # A start at 11:00 reaches back 30 minutes into the booking's own buffer (11:00-11:30 is
    # free of the appointment itself): a buffer. 12:00 reaches back to 11:30: free.
    found = slots(schedule(booking), rules(before=30), NOW)
    assert hours_of(found) == [9, 12]
    assert [r.kind for r in refusals(schedule(booking), rules(before=30), NOW, at(11))] == [
        BUFFER]
    assert [r.kind for r in refusals(schedule(booking), rules(), NOW, at(10))] == [BOOKING]


def test_google_events_block_online_only() -> None:
    event = Busy(GOOGLE, "abc", at(10), at(11), google_calendar="primary", title="Dentist")
    assert hours_of(slots(schedule(event), rules(after=15), NOW)) == [11, 12]
    staff = refusals(schedule(event), rules(), NOW, at(10), online=False)
    assert staff == []
    [reason] = refusals(schedule(event), rules(), NOW, at(10))
    assert describe(reason, TZ) == ("Google event abc in Google calendar primary ('Dentist') "
                                    "(2026-11-26 10:00-11:00)")


def test_notice_horizon_and_hours() -> None:
    kinds = {r.kind for r in refusals(schedule(), rules(horizon=1), NOW, at(8))}
    assert kinds == {HORIZON, OUTSIDE_HOURS}
    early = dt.datetime(2026, 11, 26, 9, tzinfo=UTC) - dt.timedelta(minutes=30)
    assert {r.kind for r in refusals(schedule(), rules(notice=3000), NOW, early)} >= {NOTICE}


def test_explain_runs_and_timeline() -> None:
    blocked = Busy(BLOCKED, "3", at(10), at(12))
    runs = refused(schedule(blocked), rules(), NOW)
    assert [(hours_of([r.first]), hours_of([r.last]), [x.kind for x in r.reasons])
            for r in runs] == [([10], [11], [BLOCKED])]
    line = [(r.kind, hours_of([r.start])[0]) for r in timeline(schedule(blocked), rules(), NOW)]
    assert line == [(OUTSIDE_HOURS, 0), (BLOCKED, 10), (OUTSIDE_HOURS, 13)]


def test_a_skipped_opening_time_moves_forward() -> None:
    spring = dt.datetime(2027, 3, 28, 2, 30)
    assert wall_to_utc(spring, TZ) == dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def test_freshness_text() -> None:
    assert describe_age(None, NOW) == "never synced"
    assert describe_age(NOW - dt.timedelta(seconds=12), NOW) == "synced 12 s ago"
    assert describe_age(NOW - dt.timedelta(minutes=5), NOW) == "synced 5 min ago"
    assert describe_age(NOW - dt.timedelta(hours=3), NOW) == "synced 3 h ago"
