"""Local wall-clock time, UTC instants and repeating rules across DST changes."""

from __future__ import annotations

import datetime as dt

import pytest

from server.domain.timeutil import UTC, normalise, occurrences, series_end, to_utc, validate_rrule
from server.errors import InvalidError

CPH, NYC = "Europe/Copenhagen", "America/New_York"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("zone, gap", [(CPH, dt.datetime(2027, 3, 28, 2, 30)),
                                       (NYC, dt.datetime(2027, 3, 14, 2, 30))])
def test_a_time_the_clocks_skip_is_refused(zone: str, gap: dt.datetime) -> None:
    with pytest.raises(InvalidError, match="does not exist"):
        to_utc(gap, zone)


def test_an_ambiguous_time_means_its_first_occurrence() -> None:
    # 02:30 happens twice on 2027-10-31 in Copenhagen: first at +02:00.
    assert to_utc(dt.datetime(2027, 10, 31, 2, 30), CPH) == utc(2027, 10, 31, 0, 30)
    assert to_utc(dt.datetime(2027, 11, 7, 1, 30), NYC) == utc(2027, 11, 7, 5, 30)


def test_normalise_accepts_offsets_and_local_times() -> None:
    instant, local = normalise(dt.datetime(2027, 7, 1, 10, tzinfo=UTC), CPH)
    assert (instant, local) == (utc(2027, 7, 1, 10), dt.datetime(2027, 7, 1, 12))
    instant, local = normalise(dt.datetime(2027, 1, 1, 10), NYC)
    assert (instant, local) == (utc(2027, 1, 1, 15), dt.datetime(2027, 1, 1, 10))


@pytest.mark.parametrize("zone, before, after, change", [
    (CPH, 11, 10, dt.date(2027, 3, 28)),   # 12:00 local is 11:00 UTC in winter, 10:00 in summer
    (NYC, 17, 16, dt.date(2027, 3, 14)),
])
def test_daily_rule_keeps_its_local_time_across_the_change(
        zone: str, before: int, after: int, change: dt.date) -> None:
    start = dt.datetime.combine(change - dt.timedelta(days=2), dt.time(12))
    found = occurrences("FREQ=DAILY", "[]", start, start + dt.timedelta(hours=1), zone,
                        utc(change.year, change.month, change.day - 2),
                        utc(change.year, change.month, change.day + 3))
    hours = [(s.date(), s.hour, (e - s).seconds // 3600) for s, e in found]
    assert [h for _, h, _ in hours] == [before, before, after, after, after]
    assert all(length == 1 for _, _, length in hours)


def test_occurrence_in_the_gap_moves_forward_and_exdates_are_skipped() -> None:
    start = dt.datetime(2027, 3, 27, 2, 30)
    found = occurrences("FREQ=DAILY;COUNT=3", '["2027-03-29T02:30:00"]', start,
                        start + dt.timedelta(minutes=30), CPH, utc(2027, 3, 26), utc(2027, 4, 2))
    assert [s for s, _ in found] == [utc(2027, 3, 27, 1, 30), utc(2027, 3, 28, 1, 30)]


def test_series_end() -> None:
    start = dt.datetime(2027, 1, 4, 9)
    assert series_end("FREQ=WEEKLY", start, dt.timedelta(hours=1), CPH) is None
    assert series_end("FREQ=WEEKLY;COUNT=3", start, dt.timedelta(hours=1), CPH) == \
        utc(2027, 1, 18, 9)
    assert series_end("FREQ=DAILY;UNTIL=20270405T090000", start, dt.timedelta(hours=1),
                      CPH) == utc(2027, 4, 5, 8)


@pytest.mark.parametrize("rule, message", [
    ("FREQ=SOMETIMES", "not a valid RRULE"),
    ("BYDAY=MO", "one RRULE value"),
    ("FREQ=DAILY\r\nX-INJECT:1", "one RRULE value"),
    ("FREQ=MINUTELY", "hourly at most"),
])
def test_bad_rules_are_refused(rule: str, message: str) -> None:
    with pytest.raises(InvalidError, match=message):
        validate_rrule(rule, dt.datetime(2027, 1, 4, 9))


def test_rrule_prefix_is_accepted() -> None:
    assert validate_rrule("RRULE:FREQ=WEEKLY;BYDAY=MO", dt.datetime(2027, 1, 4, 9)) == \
        "FREQ=WEEKLY;BYDAY=MO"


def test_zones_come_from_the_tzdata_package() -> None:
    import tzdata

    from server.domain.timeutil import zone, zone_names

    assert CPH in zone_names() and len(zone_names()) > 400
    copenhagen = zone(CPH)
    assert str(copenhagen) == CPH
    assert dt.datetime(2027, 7, 1, tzinfo=copenhagen).utcoffset() == dt.timedelta(hours=2)
    assert tzdata.IANA_VERSION  # the package, not the host's /usr/share/zoneinfo
    for bad in ("Mars/Base", "../../etc/passwd", "Europe/../../x", ""):
        with pytest.raises(InvalidError, match="unknown time zone"):
            zone(bad)
