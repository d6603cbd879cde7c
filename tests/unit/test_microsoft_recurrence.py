"""RRULEs of blocked time as Graph's patternedRecurrence (server/microsoft/recurrence.py): each
pattern Outlook can say, the range (COUNT, UNTIL before or after the start's time, no end), a
refusal naming why for the rest, and a Windows zone standing in for an IANA one only when their
offsets agree. Dates are built from the real now (nothing here reads a clock)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from server.microsoft import recurrence
from server.redaction import EventView

TZ = "Europe/Copenhagen"
TODAY = dt.datetime.now(dt.timezone.utc).date()
MONDAY = TODAY + dt.timedelta(days=7 - TODAY.weekday())
START = dt.datetime.combine(MONDAY, dt.time(12))


def view(rrule: str, exdates: tuple[dt.datetime, ...] = (), tzid: str = TZ) -> EventView:
    return EventView(uid="u", summary="Lunch", description=None, location=None, tzid=tzid,
                     all_day=False, start_local=START, end_local=START + dt.timedelta(hours=1),
                     start_utc=None, end_utc=None, rrule=rrule, exdates=exdates, sequence=0,
                     created=START, last_modified=START)


@pytest.mark.parametrize(("rrule", "pattern"), [
    ("FREQ=DAILY;INTERVAL=3", {"type": "daily", "interval": 3}),
    ("FREQ=WEEKLY", {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}),
    # the start's own minute and second written out (python-caldav, Thunderbird) change nothing
    ("FREQ=WEEKLY;BYMINUTE=0;BYSECOND=0", {"type": "weekly", "interval": 1,
                                           "daysOfWeek": ["monday"]}),
    ("FREQ=WEEKLY;BYDAY=TU,TH;WKST=SU", {"type": "weekly", "interval": 1,
                                         "daysOfWeek": ["tuesday", "thursday"],
                                         "firstDayOfWeek": "sunday"}),
    ("FREQ=MONTHLY", {"type": "absoluteMonthly", "dayOfMonth": START.day}),
    ("FREQ=MONTHLY;BYMONTHDAY=15", {"type": "absoluteMonthly", "dayOfMonth": 15}),
    ("FREQ=MONTHLY;BYDAY=-1FR", {"type": "relativeMonthly", "daysOfWeek": ["friday"],
                                 "index": "last"}),
    ("FREQ=YEARLY", {"type": "absoluteYearly", "month": START.month,
                     "dayOfMonth": START.day}),
    ("FREQ=YEARLY;BYMONTH=3;BYDAY=2SU", {"type": "relativeYearly", "month": 3,
                                         "daysOfWeek": ["sunday"], "index": "second"}),
])
def test_patterns_outlook_can_say(rrule: str, pattern: dict[str, object]) -> None:
    found = recurrence.series_fields(view(rrule))["recurrence"]["pattern"]
    assert {k: found[k] for k in pattern} == pattern
    assert found.get("firstDayOfWeek", "monday") == pattern.get("firstDayOfWeek", "monday")


def test_ranges() -> None:
    def span(rule: str) -> dict[str, object]:
        found: dict[str, object] = recurrence.series_fields(view(rule))["recurrence"]["range"]
        return found
    assert span("FREQ=DAILY;COUNT=4")["numberOfOccurrences"] == 4
    assert span("FREQ=DAILY")["type"] == "noEnd"
    last = MONDAY + dt.timedelta(days=10)
    assert span(f"FREQ=DAILY;UNTIL={last:%Y%m%d}")["endDate"] == last.isoformat()
    # UNTIL at 11:00 local on that day: its noon occurrence is not in the series.
    until = dt.datetime.combine(last, dt.time(11), tzinfo=ZoneInfo(TZ)).astimezone(
        dt.timezone.utc)
    assert span(f"FREQ=DAILY;UNTIL={until:%Y%m%dT%H%M%SZ}")["endDate"] == \
        (last - dt.timedelta(days=1)).isoformat()
    assert span("FREQ=DAILY")["startDate"] == MONDAY.isoformat()


@pytest.mark.parametrize(("rrule", "why"), [
    ("FREQ=HOURLY;COUNT=3", "FREQ=HOURLY"),
    ("FREQ=MONTHLY;BYMONTHDAY=1,15", "one day of the month"),
    ("FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=1", "BYSETPOS"),
    ("FREQ=MONTHLY;BYDAY=5MO", "one day of the month"),
    ("FREQ=WEEKLY;BYHOUR=9,12", "BYHOUR"),
])
def test_what_outlook_cannot_say_is_refused_with_the_reason(rrule: str, why: str) -> None:
    reason = recurrence.unsupported(view(rrule))
    assert reason is not None and why in reason


def test_excluded_dates_are_refused() -> None:
    reason = recurrence.unsupported(view("FREQ=DAILY", exdates=(START,)))
    assert reason is not None and "excluded dates" in reason


def test_the_windows_zone_has_the_same_offsets() -> None:
    assert recurrence.windows_zone("UTC", MONDAY.year) == "UTC"
    assert recurrence.windows_zone("Europe/Paris", MONDAY.year) == "Romance Standard Time"
    stand_in = recurrence.windows_zone(TZ, MONDAY.year)
    assert stand_in is not None
    other = ZoneInfo(WINDOWS_TO_OLSON[stand_in])
    for days in range(0, 3 * 365, 5):
        moment = dt.datetime.combine(MONDAY + dt.timedelta(days=days), dt.time(3),
                                     tzinfo=dt.timezone.utc)
        assert moment.astimezone(ZoneInfo(TZ)).utcoffset() == moment.astimezone(
            other).utcoffset()
    fields = recurrence.series_fields(view("FREQ=DAILY"))
    assert fields["start"] == {"dateTime": START.isoformat(timespec="seconds"),
                               "timeZone": stand_in}
    assert recurrence.windows_zone("Not/AZone", MONDAY.year) is None
