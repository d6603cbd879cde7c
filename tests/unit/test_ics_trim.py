"""Parsing only the properties the mirror reads (server/ics/parse.py `trim`) changes nothing
the mirror gets: a feed with everything a published calendar carries (VTIMEZONE, repeating
events with EXDATE and a moved occurrence, alarms, folded descriptions and summaries, Outlook's
X- lines, attendees, all-day and floating events, lower-case names) reads to the same events
and refresh interval as when every property is parsed. Dates derive from the real now."""

from __future__ import annotations

import datetime as dt

from server.ics import parse

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)
DAY = (NOW + dt.timedelta(days=10)).date()
START, END = NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=365)
BERLIN = """BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE"""
ALARM = "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:REMINDER\nTRIGGER:-PT15M\nEND:VALARM"


def at(day: dt.date, hour: int) -> str:
    return f"{day:%Y%m%d}T{hour:02d}0000"


def body() -> bytes:
    later = DAY + dt.timedelta(days=7)
    events = [
        f"UID:plain\nDTSTAMP:20260101T000000Z\nDTSTART:{at(DAY, 9)}Z\nDTEND:{at(DAY, 10)}Z\n"
        "SUMMARY:Dentist\\, upstairs\nDESCRIPTION:A long text that is folded over several "
        "lines\n because Outlook\n  folds at 75 octets\nLOCATION:Room 1\n" + ALARM,
        f"UID:zoned\nDTSTART;TZID=W. Europe Standard Time:{at(DAY, 11)}\n"
        f"DTEND;TZID=W. Europe Standard Time:{at(DAY, 12)}\nSUMMARY:A summary that is\n"
        " folded\nX-MICROSOFT-CDO-BUSYSTATUS:OOF\nX-MICROSOFT-CDO-INTENDEDSTATUS:BUSY\n"
        "ATTENDEE;CN=\"Anna; the boss\";PARTSTAT=ACCEPTED:mailto:anna@example.com\n" + ALARM,
        f"UID:weekly\nDTSTART;TZID=W. Europe Standard Time:{at(DAY, 8)}\n"
        f"DTEND;TZID=W. Europe Standard Time:{at(DAY, 9)}\nRRULE:FREQ=WEEKLY;COUNT=6\n"
        f"EXDATE;TZID=W. Europe Standard Time:{at(DAY + dt.timedelta(days=14), 8)}\n"
        "SUMMARY:Weekly\nSEQUENCE:2\nX-MS-OLK-CONFTYPE:0",
        f"UID:weekly\nRECURRENCE-ID;TZID=W. Europe Standard Time:{at(later, 8)}\n"
        f"DTSTART;TZID=W. Europe Standard Time:{at(later, 15)}\n"
        f"DTEND;TZID=W. Europe Standard Time:{at(later, 16)}\nSUMMARY:Moved\nSEQUENCE:3\n"
        "STATUS:TENTATIVE",
        f"uid:lower\ndtstart;value=date:{DAY:%Y%m%d}\nsummary:Holiday\ntransp:TRANSPARENT\n"
        "x-microsoft-cdo-alldayevent:TRUE",
        f"UID:floating\nDTSTART:{at(DAY, 13)}\nDURATION:PT45M\nSUMMARY:Floating\n"
        "STATUS:CANCELLED",
        f"UID:floating-2\nDTSTART:{at(DAY, 14)}\nDURATION:PT45M\nSUMMARY:Kept\n"
        "X-ALT-DESC;FMTTYPE=text/html:<html><body>END:VEVENT</body></html>",
    ]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN",
             "X-PUBLISHED-TTL:PT2H", BERLIN]
    for text in events:
        lines += ["BEGIN:VEVENT", *text.split("\n"), "END:VEVENT"]
    lines += ["BEGIN:VTODO", "UID:todo", "SUMMARY:Not an event", "END:VTODO", "END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_trimmed_feed_reads_as_the_whole_one() -> None:
    window = dict(tzid="Europe/Copenhagen", start=START, end=END, max_instances=1000)
    whole = parse.read(body(), whole=True, **window)
    trimmed = parse.read(body(), **window)
    assert trimmed == whole
    assert len(whole.events) == 9 and whole.refresh_seconds == 7200
    ids = {event.event_id for event in whole.events}
    assert {"plain", "zoned", "lower"} <= ids and "floating" not in ids
    summaries = {event.summary for event in whole.events}
    assert {"Dentist, upstairs", "A summary that isfolded", "Moved", "Kept"} <= summaries


def test_trim_keeps_zones_and_drops_what_is_not_read() -> None:
    text = parse.trim(body().decode())
    assert "BEGIN:VTIMEZONE" in text and "TZOFFSETTO:+0200" in text
    assert "X-PUBLISHED-TTL:PT2H" in text and "BEGIN:VTODO" in text
    for gone in ("DESCRIPTION", "LOCATION", "VALARM", "ATTENDEE", "folds at", "X-MS-OLK",
                 "X-ALT-DESC", "INTENDEDSTATUS", "DTSTAMP"):
        assert gone not in text, gone
    assert " folded" in text  # the SUMMARY's folded line stays with it
    assert text.count("BEGIN:VEVENT") == text.count("END:VEVENT") == 7
