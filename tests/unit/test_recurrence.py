"""server/domain/recurrence.py: the bounded expansion gives exactly dateutil's occurrences for
every valid rule, and refuses what RFC 5545 (or our limits) refuse, naming the part."""

from __future__ import annotations

import datetime as dt

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.domain import recurrence
from server.errors import InvalidError

CPH = "Europe/Copenhagen"

RULES = [
    "FREQ=DAILY", "FREQ=DAILY;INTERVAL=3", "FREQ=HOURLY;INTERVAL=5", "FREQ=HOURLY;BYHOUR=9,13",
    "FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH", "FREQ=WEEKLY;INTERVAL=3;WKST=SU;BYDAY=SU,MO",
    "FREQ=MONTHLY", "FREQ=MONTHLY;INTERVAL=5", "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR", "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=2",
    "FREQ=YEARLY", "FREQ=YEARLY;INTERVAL=3", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "FREQ=YEARLY;BYYEARDAY=100,-1", "FREQ=DAILY;BYMONTH=3,10",
    "FREQ=DAILY;BYHOUR=8,17", "FREQ=WEEKLY;BYDAY=SA;UNTIL=20400101T000000",
    "FREQ=DAILY;COUNT=40", "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=12",
]


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(rule=st.sampled_from(RULES),
       start=st.datetimes(dt.datetime(2019, 1, 1), dt.datetime(2031, 1, 1)),
       offset=st.integers(min_value=-400, max_value=8000), days=st.integers(1, 70))
def test_the_bounded_expansion_equals_dateutils(rule: str, start: dt.datetime, offset: int,
                                                days: int) -> None:
    start = start.replace(second=0, microsecond=0)
    try:
        recurrence.validate(rule, start, CPH)
    except InvalidError:
        return  # e.g. 29 February every third year from a start that never reaches one
    low = start + dt.timedelta(days=offset)
    high = low + dt.timedelta(days=days)
    expected = list(rrulestr(rule, dtstart=start).between(low, high, inc=True))
    assert recurrence.starts_between(rule, start, CPH, low, high) == expected


@pytest.mark.parametrize("rule, part", [
    ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
    ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL"),
    ("FREQ=DAILY;INTERVAL=-1", "INTERVAL"),
    ("FREQ=MONTHLY;BYDAY=+53MO", "BYDAY=+53MO"),
    ("FREQ=DAILY;COUNT=1000000000", "COUNT"),
    ("FREQ=DAILY;COUNT=0", "COUNT"),
    ("FREQ=SECONDLY", "SECONDLY"),
    ("FREQ=MINUTELY", "MINUTELY"),
    ("FREQ=HOURLY;BYMINUTE=0,1,2", "BYMINUTE"),
    ("FREQ=DAILY;BYMINUTE=30", "BYMINUTE=30"),  # the start is at 09:00
    ("FREQ=DAILY;BYSECOND=15", "BYSECOND=15"),
    ("FREQ=DAILY;BYMINUTE=60", "BYMINUTE"),
    ("FREQ=DAILY;BYHOUR=24", "BYHOUR"),
    ("FREQ=YEARLY;BYMONTH=13", "BYMONTH"),
    ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY"),
    ("FREQ=WEEKLY;BYMONTHDAY=3", "BYMONTHDAY"),
    ("FREQ=DAILY;BYWEEKNO=3", "BYWEEKNO"),
    ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY=1MO"),
    ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS"),
    ("FREQ=DAILY;COUNT=3;UNTIL=20280101", "COUNT or UNTIL"),
    ("FREQ=DAILY;UNTIL=21500101", "UNTIL"),
    ("FREQ=DAILY;UNTIL=20200101", "UNTIL"),
    ("FREQ=DAILY;UNTIL=2028-01-01", "UNTIL"),
    ("FREQ=DAILY;X-NAME=1", "X-NAME"),
    ("FREQ=DAILY;FREQ=WEEKLY", "twice"),
    ("FREQ=YEARLY;INTERVAL=101", "INTERVAL"),
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "never occurs"),
    ("FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29", "never occurs"),
    ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", "never occurs"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=100", "COUNT=100"),
])
def test_bad_rules_are_refused_naming_the_part(rule: str, part: str) -> None:
    # 2027-01-04 is a Monday; every fourth year from 2027 is never a leap year
    with pytest.raises(InvalidError) as caught:
        recurrence.validate(rule, dt.datetime(2027, 1, 4, 9), CPH)
    assert part in caught.value.message and caught.value.details["field"] == "rrule"


@pytest.mark.parametrize("rule", [
    "FREQ=WEEKLY;BYDAY=MO;BYHOUR=6;BYMINUTE=55;COUNT=3",  # python-caldav's recurring task
    "FREQ=DAILY;BYMINUTE=55;BYSECOND=0",
    "FREQ=HOURLY;INTERVAL=5;BYMINUTE=55",
])
def test_the_starts_own_minute_and_second_may_be_written_out(rule: str) -> None:
    today = dt.date.today()  # no clock is read by the code under test: any Monday will do
    start = dt.datetime.combine(today + dt.timedelta(days=7 - today.weekday()), dt.time(6, 55))
    assert recurrence.validate(rule, start, CPH) == rule
    low, high = start + dt.timedelta(days=3), start + dt.timedelta(days=40)
    assert recurrence.starts_between(rule, start, CPH, low, high) == \
        list(rrulestr(rule, dtstart=start).between(low, high, inc=True))
    plain = ";".join(part for part in rule.split(";")
                     if not part.startswith(("BYMINUTE", "BYSECOND")))
    assert recurrence.starts_between(rule, start, CPH, start, high) == \
        recurrence.starts_between(plain, start, CPH, start, high)


def test_an_until_in_utc_is_read_in_the_calendars_zone() -> None:
    start = dt.datetime(2027, 1, 4, 9)
    rule = recurrence.validate("FREQ=DAILY;UNTIL=20270106T080000Z", start, CPH)
    found = recurrence.starts_between(rule, start, CPH, start, start + dt.timedelta(days=9))
    assert found == [start + dt.timedelta(days=n) for n in range(3)]


def test_a_stored_hostile_rule_counts_as_its_first_occurrence() -> None:
    start = dt.datetime(2027, 1, 4, 9)
    for rule in ("FREQ=DAILY;INTERVAL=0", "FREQ=DAILY;INTERVAL=-1", "FREQ=MONTHLY;BYDAY=+53MO",
                 "FREQ=DAILY;COUNT=1000000000", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"):
        assert recurrence.starts_between(rule, start, CPH, start - dt.timedelta(days=1),
                                         start + dt.timedelta(days=30)) == [start]
        assert recurrence.stored_rule(rule, start, CPH) is None


def test_an_expansion_takes_at_most_the_cap() -> None:
    start = dt.datetime(2027, 1, 4, 9)
    with pytest.raises(recurrence.ExpansionLimitError):
        recurrence.starts_between("FREQ=HOURLY", start, CPH, start,
                                  start + dt.timedelta(days=30), limit=100)
