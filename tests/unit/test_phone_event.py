"""Reading a phone's PUT body (server/domain/phone_event.py): the times in every form a client sends
them, the zone kept, and refusals that name the problem without echoing the body."""

from __future__ import annotations

import datetime as dt

import pytest

from server.domain.phone_event import PutRefused, read

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
    (("DTSTART:20261201T120000Z", "DTEND:20261201T120000Z"), "end after it starts"),
    (("DTSTART:20261201T120000Z", "DURATION:-PT1H"), "DURATION"),
    (("DTSTART:20261201T120000Z", "DTEND:20261201T110000Z"), "end after it starts"),
    (("DTSTART:20261201T120000Z", "DTEND;VALUE=DATE:20261202"), "both be dates"),
    (("DTSTART:20261201T120000Z", "DTEND:20261201T130000Z", "RRULE:FREQ=DAILY;COUNT=10000"),
     "COUNT"),
    (("DTSTART:20261201T120000Z", "DTEND:20261201T130000Z",
      "RDATE:" + ",".join(f"2027{m:02d}{d:02d}T120000Z" for m in (1, 2, 3, 4)
                          for d in range(1, 28))), "RDATE"),
    (("DTSTART:20261201T120000Z", "DTEND:20261201T130000Z", "RDATE:99991202T120000Z"),
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
                             uid="bad/uid"), "UID")):
        with pytest.raises(PutRefused) as caught:
            read(bad, "UTC")
        assert words in caught.value.reason
    todo = body("DTSTART:20261201T120000Z").replace(b"VEVENT", b"VTODO")
    with pytest.raises(PutRefused) as caught:
        read(todo, "UTC")
    assert caught.value.precondition == "C:supported-calendar-component"


def test_without_an_end_an_event_lasts_as_rfc_5545_says() -> None:
    moment = read(body("DTSTART:20261201T120000Z"), "UTC")
    assert moment.zero_length and moment.end_utc == moment.start_utc
    day = read(body("DTSTART;VALUE=DATE:20261201"), "UTC")
    assert day.all_day and not day.zero_length
    assert day.end_local - day.start_local == dt.timedelta(days=1)
    timed = read(body("DTSTART:20261201T120000Z", "DURATION:PT45M"), "UTC")
    assert not timed.zero_length and timed.end_utc - timed.start_utc == dt.timedelta(minutes=45)


def test_rdates_become_instances_of_the_masters_length_or_their_period() -> None:
    event = read(body("DTSTART;TZID=Europe/Copenhagen:20261201T120000",
                      "DTEND;TZID=Europe/Copenhagen:20261201T130000",
                      "RDATE;TZID=Europe/Copenhagen:20261205T090000",
                      "RDATE;VALUE=PERIOD:20261210T080000Z/20261210T100000Z"), "UTC")
    spans = sorted((i.start_utc, i.end_utc) for i in event.instances)
    assert spans == [(dt.datetime(2026, 12, 5, 8, tzinfo=UTC),
                      dt.datetime(2026, 12, 5, 9, tzinfo=UTC)),
                     (dt.datetime(2026, 12, 10, 8, tzinfo=UTC),
                      dt.datetime(2026, 12, 10, 10, tzinfo=UTC))]
    assert event.replaced == ()


def test_overrides_replace_their_occurrence_and_keep_their_own_times() -> None:
    text = body("DTSTART;TZID=Europe/Copenhagen:20261202T120000",
                "DTEND;TZID=Europe/Copenhagen:20261202T130000", "RRULE:FREQ=WEEKLY;COUNT=5",
                "SUMMARY:Lunch", uid="s-1")
    override = ("BEGIN:VEVENT\r\nUID:s-1\r\nRECURRENCE-ID:20261209T110000Z\r\n"
                "DTSTART:20261209T140000Z\r\nDURATION:PT30M\r\nTRANSP:TRANSPARENT\r\n"
                "END:VEVENT\r\n").encode()
    cancelled = override.replace(b"20261209T110000Z", b"20261216T110000Z").replace(
        b"TRANSP:TRANSPARENT", b"STATUS:CANCELLED")
    event = read(text.replace(b"END:VCALENDAR", override + cancelled + b"END:VCALENDAR"),
                 "UTC")
    # Both occurrences leave the master (as local starts in its zone); one instance remains.
    assert event.replaced == (dt.datetime(2026, 12, 9, 12), dt.datetime(2026, 12, 16, 12))
    assert event.overrides == 2 and len(event.instances) == 1
    moved = event.instances[0]
    assert moved.start_utc == dt.datetime(2026, 12, 9, 14, tzinfo=UTC)
    assert moved.end_utc - moved.start_utc == dt.timedelta(minutes=30)
    assert moved.transparency == "transparent" and moved.summary == "Lunch"
