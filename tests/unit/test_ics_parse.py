"""Reading an ICS feed into the mirror's vocabulary (server/ics/parse.py): the blocking facts
(TRANSP, X-MICROSOFT-CDO-BUSYSTATUS, STATUS), all-day dates, VTIMEZONE from the feed itself,
floating times in the business's zone, recurrences expanded over the window and bounded,
REFRESH-INTERVAL / X-PUBLISHED-TTL, and clear errors for what is not a calendar. Dates derive
from the real now."""

from __future__ import annotations

import datetime as dt

import pytest

from server.domain.blocking import BlockingPolicy, blocks
from server.ics import parse

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)
DAY = (NOW + dt.timedelta(days=10)).date()
START, END = NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=365)


def stamp(day: dt.date, hour: int) -> str:
    return f"{day:%Y%m%d}T{hour:02d}0000"


def feed(*events: str, head: str = "") -> bytes:
    parts = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN"]
    if head:
        parts.append(head)
    for event in events:
        parts += ["BEGIN:VEVENT", event.strip(), "END:VEVENT"]
    return ("\r\n".join(parts + ["END:VCALENDAR"]) + "\r\n").encode()


def event(uid: str, *lines: str, hour: int = 10) -> str:
    return "\r\n".join([f"UID:{uid}", f"DTSTART:{stamp(DAY, hour)}Z",
                        f"DTEND:{stamp(DAY, hour + 1)}Z", *lines])


def read(body: bytes, tzid: str = "Europe/Copenhagen", limit: int = 1000) -> parse.Feed:
    return parse.read(body, tzid=tzid, start=START, end=END, max_instances=limit)


def blocking(found: parse.Feed, policy: BlockingPolicy = BlockingPolicy()) -> dict[str, bool]:
    return {e.event_id: blocks(status=e.status, transparency=e.transparency,
                               event_type=e.event_type, self_response=e.self_response,
                               all_day=e.all_day, policy=policy) for e in found.events}


def test_blocking_facts() -> None:
    found = read(feed(
        event("busy"), event("free", "TRANSP:TRANSPARENT"),
        event("cdo-free", "X-MICROSOFT-CDO-BUSYSTATUS:FREE"),
        event("cdo-busy", "TRANSP:TRANSPARENT", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY"),
        event("tentative", "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE"),
        event("oof", "X-MICROSOFT-CDO-BUSYSTATUS:OOF"),
        event("elsewhere", "X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE"),
        event("status-tentative", "STATUS:TENTATIVE"),
        event("cancelled", "STATUS:CANCELLED")))
    assert blocking(found) == {"busy": True, "free": False, "cdo-free": False,
                               "cdo-busy": True, "tentative": True, "oof": True,
                               "elsewhere": False, "status-tentative": True}
    strict = BlockingPolicy(out_of_office=False, tentative=False, all_day=True)
    assert {k for k, v in blocking(found, strict).items() if v} == {"busy", "cdo-busy"}


def test_all_day_events_keep_their_dates_and_the_policy_decides() -> None:
    found = read(feed(f"UID:holiday\r\nDTSTART;VALUE=DATE:{DAY:%Y%m%d}\r\n"
                      f"DTEND;VALUE=DATE:{DAY + dt.timedelta(days=2):%Y%m%d}"))
    [holiday] = found.events
    assert (holiday.start_date, holiday.end_date) == (DAY, DAY + dt.timedelta(days=2))
    assert blocking(found) == {"holiday": True}
    assert blocking(found, BlockingPolicy(all_day=False)) == {"holiday": False}


def test_the_feeds_own_vtimezone_and_floating_times() -> None:
    zone = "\r\n".join([
        "BEGIN:VTIMEZONE", "TZID:Custom Standard Time", "BEGIN:STANDARD",
        "DTSTART:16010101T000000", "TZOFFSETFROM:+0530", "TZOFFSETTO:+0530",
        "END:STANDARD", "END:VTIMEZONE"])
    found = read(feed(
        f"UID:zoned\r\nDTSTART;TZID=Custom Standard Time:{stamp(DAY, 10)}\r\n"
        f"DTEND;TZID=Custom Standard Time:{stamp(DAY, 11)}",
        f"UID:floating\r\nDTSTART:{stamp(DAY, 10)}\r\nDTEND:{stamp(DAY, 11)}",
        head=zone), tzid="America/New_York")
    times = {e.event_id: e.start_utc for e in found.events}
    ten = dt.datetime.combine(DAY, dt.time(10))
    assert times["zoned"] == (ten - dt.timedelta(hours=5, minutes=30)).replace(tzinfo=UTC)
    from zoneinfo import ZoneInfo
    assert times["floating"] == ten.replace(tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)


def test_recurrences_are_expanded_over_the_window_with_overrides_and_exceptions() -> None:
    found = read(feed(
        event("weekly", "RRULE:FREQ=WEEKLY;COUNT=5", f"EXDATE:{stamp(DAY + dt.timedelta(days=7), 10)}Z"),
        f"UID:weekly\r\nRECURRENCE-ID:{stamp(DAY + dt.timedelta(days=14), 10)}Z\r\n"
        f"DTSTART:{stamp(DAY + dt.timedelta(days=14), 15)}Z\r\n"
        f"DTEND:{stamp(DAY + dt.timedelta(days=14), 16)}Z",
        f"UID:weekly\r\nRECURRENCE-ID:{stamp(DAY + dt.timedelta(days=21), 10)}Z\r\n"
        f"DTSTART:{stamp(DAY + dt.timedelta(days=21), 10)}Z\r\n"
        f"DTEND:{stamp(DAY + dt.timedelta(days=21), 11)}Z\r\nSTATUS:CANCELLED"))
    starts = sorted(e.start_utc for e in found.events)
    assert [s.date() for s in starts] == [DAY, DAY + dt.timedelta(days=14),
                                          DAY + dt.timedelta(days=28)]
    assert starts[1].hour == 15
    assert {e.recurring_event_id for e in found.events} == {"weekly"}
    assert len({e.event_id for e in found.events}) == 3


def test_an_endless_rule_is_bounded_and_other_events_survive() -> None:
    found = read(feed(event("minutely", "RRULE:FREQ=MINUTELY"),
                      event("later", hour=14), event("daily", "RRULE:FREQ=DAILY", hour=8)),
                 limit=1500)
    ids = [e.event_id for e in found.events]
    assert found.truncated and "later" in ids
    # Each series at most a quarter of the limit: the minute-by-minute one cannot take all.
    assert sum(1 for e in found.events if e.recurring_event_id == "minutely") == 375
    daily = [e for e in found.events if e.recurring_event_id == "daily"]
    assert 354 <= len(daily) <= 357 and max(e.start_utc for e in daily) < END  # DAY to END


def test_the_total_is_bounded_too() -> None:
    found = read(feed(*(event(f"e{n}") for n in range(300))), limit=100)
    assert found.truncated and len(found.events) == 100


def test_refresh_interval() -> None:
    assert read(feed(head="REFRESH-INTERVAL;VALUE=DURATION:PT2H")).refresh_seconds == 7200
    assert read(feed(head="X-PUBLISHED-TTL:PT15M")).refresh_seconds == 900
    assert read(feed(head="X-PUBLISHED-TTL:nonsense")).refresh_seconds is None


@pytest.mark.parametrize("body, words", [
    (b"<!DOCTYPE html><html>Sign in</html>", "an HTML page"),
    (b"{\"events\": []}", "not iCalendar data"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\nEND:VCALENDAR", "could not"),
])
def test_what_is_not_a_calendar_is_named(body: bytes, words: str) -> None:
    with pytest.raises(parse.FeedError, match=words):
        read(body)


def test_a_rule_that_began_long_ago_is_expanded_cheaply_and_exactly() -> None:
    long_ago = NOW.year - 25
    found = read(feed(
        f"UID:hourly\r\nDTSTART;TZID=Europe/Copenhagen:{long_ago}0101T091500\r\n"
        f"DTEND;TZID=Europe/Copenhagen:{long_ago}0101T094500\r\n"
        "RRULE:FREQ=HOURLY;INTERVAL=2;BYHOUR=9,13",
        f"UID:minutely\r\nDTSTART:{long_ago}0101T090000Z\r\nDTEND:{long_ago}0101T090100Z\r\n"
        "RRULE:FREQ=MINUTELY"), limit=4000)
    minutely = sorted(e.start_utc for e in found.events if e.recurring_event_id == "minutely")
    assert found.truncated and len(minutely) == 1000  # a quarter of the limit
    assert minutely[0] >= START - dt.timedelta(minutes=1) and all(
        b - a == dt.timedelta(minutes=1) for a, b in zip(minutely, minutely[1:]))
    from zoneinfo import ZoneInfo
    local = [e.start_utc.astimezone(ZoneInfo("Europe/Copenhagen"))
             for e in found.events if e.recurring_event_id == "hourly"]
    # Every 2 hours from 09:15 on 1 January: 09:15 and 13:15 each day (same parity of hours).
    assert {(t.hour, t.minute) for t in local} == {(9, 15), (13, 15)}
    days = (END - START).days
    assert days * 2 - 4 <= len(local) <= days * 2 + 2


def test_a_huge_count_is_lowered() -> None:
    found = read(feed(event("counted", f"RRULE:FREQ=DAILY;COUNT=100000000")), limit=20000)
    assert found.truncated and 354 <= len(found.events) <= 357
