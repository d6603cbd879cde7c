"""A CalDAV resource in the mirror's vocabulary (server/caldav/events.py), our copies' names
and marks (server/caldav/copies.py) and what discovery tries for an address
(server/caldav/discovery.py): pure functions, on explicit windows (no clock)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from server.caldav import copies, discovery, events, push
from server.caldav.client import Answer
from server.domain import mirrored
from server.errors import InvalidError

UTC = dt.timezone.utc
ZONE = "Europe/Copenhagen"
START = dt.datetime(2030, 1, 7, tzinfo=UTC)  # a window of its own: nothing reads a clock
END = START + dt.timedelta(days=60)


def ics(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", *lines,
                        "END:VCALENDAR"]) + "\r\n"


def event(*lines: str, uid: str = "u1") -> list[str]:
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20300101T000000Z", *lines, "END:VEVENT"]


def parse(text: str, owner: frozenset[str] = frozenset({"anna@example.com"})
          ) -> events.Parsed:
    return events.parse("e.ics", text, zone=ZONE, start=START, end=END, owner=owner)


def test_a_busy_event_blocks_in_utc() -> None:
    [found] = parse(ics(*event("DTSTART;TZID=Europe/Copenhagen:20300110T090000",
                               "DTEND;TZID=Europe/Copenhagen:20300110T100000",
                               "SUMMARY:Dentist"))).events
    assert found.event_id == "e.ics" and found.recurring_event_id is None
    assert found.start_utc == dt.datetime(2030, 1, 10, 8, tzinfo=UTC)
    assert (found.transparency, found.status, found.summary) == ("opaque", "confirmed",
                                                                 "Dentist")


def test_the_owners_answer_free_tentative_and_private() -> None:
    common = ("DTSTART:20300110T090000Z", "DTEND:20300110T100000Z")
    [declined] = parse(ics(*event(*common, "ATTENDEE;PARTSTAT=DECLINED:mailto:Anna@Example.com",
                                  "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bo@example.com"))).events
    assert declined.self_response == "declined"
    [free] = parse(ics(*event(*common, "TRANSP:TRANSPARENT"))).events
    assert free.transparency == "transparent"
    [tentative] = parse(ics(*event(*common, "STATUS:TENTATIVE"))).events
    assert tentative.status == "tentative"
    [oof] = parse(ics(*event(*common, "X-MICROSOFT-CDO-BUSYSTATUS:OOF"))).events
    assert oof.event_type == "outOfOffice"
    [private] = parse(ics(*event(*common, "SUMMARY:Therapy", "CLASS:PRIVATE"))).events
    assert private.summary == ""
    assert parse(ics(*event(*common, "STATUS:CANCELLED"))).events == []


def test_all_day_and_floating_times_are_the_business_wall_time() -> None:
    [day] = parse(ics(*event("DTSTART;VALUE=DATE:20300110"))).events
    assert day.all_day and (day.start_date, day.end_date) == (dt.date(2030, 1, 10),
                                                              dt.date(2030, 1, 11))
    assert day.start_utc == dt.datetime(2030, 1, 10, tzinfo=ZoneInfo(ZONE))
    [floating] = parse(ics(*event("DTSTART:20300110T140000", "DURATION:PT30M"))).events
    assert floating.start_utc == dt.datetime(2030, 1, 10, 14, tzinfo=ZoneInfo(ZONE))
    assert floating.end_utc - floating.start_utc == dt.timedelta(minutes=30)


def test_the_feeds_own_vtimezone_is_used() -> None:
    [found] = parse(ics(
        "BEGIN:VTIMEZONE", "TZID:Custom Zone", "BEGIN:STANDARD", "DTSTART:19700101T000000",
        "TZOFFSETFROM:+0500", "TZOFFSETTO:+0500", "END:STANDARD", "END:VTIMEZONE",
        *event("DTSTART;TZID=Custom Zone:20300110T090000",
               "DTEND;TZID=Custom Zone:20300110T100000"))).events
    assert found.start_utc == dt.datetime(2030, 1, 10, 4, tzinfo=UTC)


def test_repeating_events_expand_within_the_window_and_bounded() -> None:
    found = parse(ics(*event("DTSTART:20300101T090000Z", "DTEND:20300101T100000Z",
                             "RRULE:FREQ=WEEKLY", "EXDATE:20300115T090000Z"),
                      *event("RECURRENCE-ID:20300122T090000Z", "DTSTART:20300122T130000Z",
                             "DTEND:20300122T140000Z"))).events
    starts = [e.start_utc for e in found]
    assert starts[0] == dt.datetime(2030, 1, 8, 9, tzinfo=UTC)  # the window's first
    assert dt.datetime(2030, 1, 15, 9, tzinfo=UTC) not in starts
    assert dt.datetime(2030, 1, 22, 13, tzinfo=UTC) in starts
    assert all(START <= s < END for s in starts) and len(starts) == 8
    assert {e.recurring_event_id for e in found} == {"e.ics"}
    assert len({e.event_id for e in found}) == len(found)
    hourly = parse(ics(*event("DTSTART:20300101T000000Z", "DURATION:PT1M",
                              "RRULE:FREQ=HOURLY"))).events
    assert len(hourly) == events.MAX_OCCURRENCES  # 60 days of hours: cut at the bound
    assert hourly[0].start_utc == START
    assert parse(ics(*event("DTSTART:20300101T000000Z", "DURATION:PT1M",
                            "RRULE:FREQ=MINUTELY"))).unreadable


def test_our_copies_are_recognised_and_garbage_lists_nothing() -> None:
    mark = copies.MARK
    assert parse(ics(*event("DTSTART:20300110T090000Z",
                            f"{mark}:booking:7/v2"))).tag == "booking:7"
    assert parse("not a calendar").unreadable
    assert parse(ics("BEGIN:VTODO", "UID:t", "END:VTODO")).events == []


def test_copy_names_are_keyed_and_read_back() -> None:
    owner = copies.owner_key(3, "Anna@Example.com")
    assert owner == copies.owner_key(3, "anna@example.com")
    name = copies.copy_name(b"k" * 32, owner, "booking", 7)
    assert name == copies.copy_name(b"k" * 32, owner, "booking", 7)
    assert name != copies.copy_name(b"k" * 32, copies.owner_key(4, "anna@example.com"),
                                    "booking", 7)
    assert name != copies.copy_name(b"k" * 32, copies.owner_key(3, "bo@example.com"),
                                    "booking", 7)
    assert name != copies.copy_name(b"j" * 32, owner, "booking", 7)
    assert copies.tag_of_name(name) == "booking:7"
    assert copies.tag_of_name("bookingcal-evil-7-x.ics") is None
    assert copies.tag_of("booking:7/v3") == "booking:7" and copies.tag_of("x:1") is None


def test_a_copy_s_next_generation_has_a_fresh_stable_name_read_back_as_ours() -> None:
    name = copies.copy_name(b"k" * 32, copies.owner_key(3, "anna@example.com"), "booking", 7)
    second = copies.next_name(name)
    assert second == name.removesuffix(".ics") + "-g1.ics" == copies.next_name(name)
    third = copies.next_name(second)
    assert third == name.removesuffix(".ics") + "-g2.ics"
    assert [copies.generation_of(n) for n in (name, second, third)] == [0, 1, 2]
    assert {copies.base_name(n) for n in (name, second, third)} == {name}
    assert copies.tag_of_name(second) == copies.tag_of_name(third) == "booking:7"
    assert copies.tag_of_name(name.removesuffix(".ics") + "-x1.ics") is None


def test_discovery_candidates() -> None:
    assert discovery.candidates("fastmail.com", allow_http=False) == [
        "https://fastmail.com/.well-known/caldav", "https://fastmail.com/"]
    assert discovery.candidates("https://dav.example.com/remote.php/dav/",
                                allow_http=False) == ["https://dav.example.com/remote.php/dav/"]
    with pytest.raises(InvalidError, match="https://"):
        discovery.candidates("http://dav.example.com/", allow_http=False)
    with pytest.raises(InvalidError, match="own fields"):
        discovery.candidates("https://a:b@dav.example.com/", allow_http=False)
    with pytest.raises(InvalidError, match="private or local"):
        discovery.check_host("https://127.0.0.1/", allow_private=False)
    with pytest.raises(InvalidError, match="private or local"):
        discovery.check_host("https://169.254.169.254/", allow_private=False)


def test_a_series_change_replaces_every_occurrence() -> None:
    assert isinstance(mirrored.Series("e.ics"), mirrored.Series)


def test_a_refused_create_is_told_apart_from_a_deleted_uid() -> None:
    nextcloud = (b'<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns"><s:message>Deleted '
                 b"calendar object with uid already exists in this calendar collection."
                 b"</s:message></d:error>")
    rfc = b'<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><C:no-uid-conflict/>'
    assert push.refuses_uid(Answer(400, {}, nextcloud))
    assert push.refuses_uid(Answer(403, {}, rfc)) and push.refuses_uid(Answer(409, {}, rfc))
    assert not push.refuses_uid(Answer(403, {}, b"<D:error><D:need-privileges/></D:error>"))
    assert not push.refuses_uid(Answer(412, {}, nextcloud))


def test_a_copy_s_text_takes_a_new_uid() -> None:
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\n"
            "UID:bookingcal-booking-7-abc\r\nDTSTAMP:20200101T000000Z\r\n"
            "DTSTART:20300101T100000Z\r\nSUMMARY:Cut\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    again = copies.with_uid(text, "bookingcal-booking-7-abc-g1.ics")
    assert "UID:bookingcal-booking-7-abc-g1\r\n" in again and "SUMMARY:Cut" in again
