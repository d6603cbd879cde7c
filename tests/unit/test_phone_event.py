"""Reading a phone's PUT body (server/phone_event.py): the times in every form a client sends
them, the zone kept, and refusals that name the problem without echoing the body."""

from __future__ import annotations

import datetime as dt

import pytest

from server.phone_event import PutRefused, read

UTC = dt.timezone.utc


def body(*lines: str, uid: str = "e-1") -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261124T080000Z\r\n" + "".join(f"{l}\r\n" for l in lines)
            + "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def test_local_utc_floating_and_prefixed_zones() -> None:
    local = read(body("DTSTART;TZID=Europe/Copenhagen:20261201T120000",
                      "DTEND;TZID=Europe/Copenhagen:20261201T130000"), "America/New_York")
    assert local.tzid == "Europe/Copenhagen"
    assert local.start_utc == dt.datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    assert local.start_local == dt.datetime(2026, 12, 1, 12, 0)
    utc = read(body("DTSTART:20261201T120000Z", "DURATION:PT90M"), "Europe/Copenhagen")
    assert utc.tzid == "UTC" and utc.end_utc == dt.datetime(2026, 12, 1, 13, 30, tzinfo=UTC)
    floating = read(body("DTSTART:20261201T120000", "DTEND:20261201T130000"),
                    "America/New_York")
    assert floating.tzid == "America/New_York"
    assert floating.start_utc == dt.datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    mozilla = read(body("DTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin:20260701T120000",
                        "DTEND;TZID=/mozilla.org/20050126_1/Europe/Berlin:20260701T130000"),
                   "UTC")
    assert mozilla.tzid == "Europe/Berlin"
    assert mozilla.start_utc == dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_all_day_series_exdates_transparency_and_alarms() -> None:
    event = read(body("DTSTART;VALUE=DATE:20261201", "RRULE:FREQ=WEEKLY;COUNT=3",
                      "EXDATE;VALUE=DATE:20261208", "TRANSP:TRANSPARENT", "STATUS:TENTATIVE",
                      "SUMMARY:Off", "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT15M",
                      "DESCRIPTION:x", "END:VALARM"), "Europe/Copenhagen")
    assert event.all_day and event.end_local - event.start_local == dt.timedelta(days=1)
    assert event.rrule == "FREQ=WEEKLY;COUNT=3"
    assert event.exdates == (dt.datetime(2026, 12, 8),)
    assert (event.transparency, event.status, event.summary) == ("transparent", "tentative",
                                                                  "Off")
    assert "BEGIN:VALARM" in event.alarms and "TRIGGER:-PT15M" in event.alarms


@pytest.mark.parametrize("lines, words", [
    (("DTSTART;TZID=Nowhere/Land:20261201T120000", "DTEND:20261201T130000Z"), "time zone"),
    (("DTSTART:20261201T120000Z",), "end after it starts"),
    (("DTSTART:20261201T120000Z", "DTEND:20261201T110000Z"), "end after it starts"),
    (("DTSTART:20261201T120000Z", "DTEND;VALUE=DATE:20261202"), "both be dates"),
    (("DTSTART:20261201T120000Z", "DTEND:20261201T130000Z", "RRULE:FREQ=DAILY;COUNT=10000"),
     "COUNT"),
    (("DTSTART:20261201T120000Z", "DTEND:20261201T130000Z", "RDATE:20261202T120000Z"),
     "RDATE"),
    (("DTSTART;TZID=Europe/Copenhagen:20270328T023000",
      "DTEND;TZID=Europe/Copenhagen:20270328T033000"), "does not exist"),
    (("DTEND:20261201T130000Z",), "DTSTART"),
])
def test_refusals_name_the_problem(lines: tuple[str, ...], words: str) -> None:
    with pytest.raises(PutRefused) as caught:
        read(body(*lines), "Europe/Copenhagen")
    assert caught.value.status.startswith("4")
    assert words in caught.value.reason


def test_bodies_that_are_not_one_event() -> None:
    for bad, words in ((b"\xff\xfe", "UTF-8"), (b"hello", "not valid iCalendar"),
                       (body("DTSTART:20261201T120000Z", "DTEND:20261201T130000Z",
                             uid="bad uid!"), "UID")):
        with pytest.raises(PutRefused) as caught:
            read(bad, "UTC")
        assert words in caught.value.reason
    todo = body("DTSTART:20261201T120000Z").replace(b"VEVENT", b"VTODO")
    with pytest.raises(PutRefused) as caught:
        read(todo, "UTC")
    assert caught.value.precondition == "C:supported-calendar-component"
