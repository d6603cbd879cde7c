"""Hostile or broken ICS feeds: each is either read (what can be read of it) or refused with
a FeedError saying why, never another exception (the bridge goes on with the other sources),
and reading one through the engine leaves a clear error on the source, nothing half-written.
Dates derive from the real now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from ics_world import IcsWorld, make_ics_world
from server.ics import parse

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)
DAY = f"{(NOW + dt.timedelta(days=5)).date():%Y%m%d}"


def wrap(*lines: str) -> bytes:
    return ("\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", *lines,
                         "END:VCALENDAR"]) + "\r\n").encode()


def event(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", *lines, "END:VEVENT"])


HOSTILE = {
    "no dtstart": wrap(event("UID:a", "SUMMARY:x")),
    "garbage dtstart": wrap(event("UID:a", "DTSTART:tomorrow")),
    "end before start": wrap(event("UID:a", f"DTSTART:{DAY}T100000Z", f"DTEND:{DAY}T090000Z")),
    "unknown tzid": wrap(event("UID:a", f"DTSTART;TZID=Mars/Olympus:{DAY}T100000",
                               f"DTEND;TZID=Mars/Olympus:{DAY}T110000")),
    "bad rrule": wrap(event("UID:a", f"DTSTART:{DAY}T100000Z", "RRULE:FREQ=SOMETIMES")),
    "interval zero": wrap(event("UID:a", f"DTSTART:{DAY}T100000Z", "RRULE:FREQ=DAILY;INTERVAL=0")),
    "until before start": wrap(event("UID:a", f"DTSTART:{DAY}T100000Z",
                                     "RRULE:FREQ=DAILY;UNTIL=19700101T000000Z")),
    "bysetpos nonsense": wrap(event("UID:a", f"DTSTART:{DAY}T100000Z",
                                    "RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=400")),
    "secondly forever": wrap(event("UID:a", "DTSTART:19700101T000000Z",
                                   "DTEND:19700101T000001Z", "RRULE:FREQ=SECONDLY")),
    "many rdates": wrap(event("UID:a", f"DTSTART:{DAY}T100000Z", *(
        f"RDATE:{DAY}T{h % 24:02d}{m:02d}00Z" for h in range(24) for m in range(60)))),
    "orphan override": wrap(event("UID:a", f"RECURRENCE-ID:{DAY}T100000Z",
                                  f"DTSTART:{DAY}T120000Z")),
    "nul and long lines": wrap(event("UID:a\x00b", f"DTSTART:{DAY}T100000Z",
                                     "SUMMARY:" + "y" * 200_000)),
    "nested calendars": wrap(*(["BEGIN:VCALENDAR"] * 200 + ["END:VCALENDAR"] * 200)),
    "not closed": b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n",
    "binary": b"BEGIN:VCALENDAR\r\n" + bytes(range(256)) * 100,
    "year 9999": wrap(event("UID:a", "DTSTART:99991231T230000Z", "RRULE:FREQ=YEARLY")),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_read_or_refused_clearly(name: str) -> None:
    try:
        found = parse.read(HOSTILE[name], tzid="Europe/Copenhagen",
                           start=NOW - dt.timedelta(days=30), end=NOW + dt.timedelta(days=365),
                           max_instances=2000)
    except parse.FeedError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    assert len(found.events) <= 2000
    assert all(event.end_utc >= event.start_utc for event in found.events)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[IcsWorld]:
    with make_ics_world(tmp_path, f"sqlite:///{tmp_path}/hostile.sqlite3") as made:
        yield made


@pytest.mark.timeout(300)
def test_the_bridge_survives_every_one(world: IcsWorld) -> None:
    for name in sorted(HOSTILE):
        world.server.put(world.path, HOSTILE[name].decode("utf-8", errors="replace"))
        report = world.read()  # a crash would raise out of the engine here
        status = world.status()
        assert report.error is None or "trying again" in report.error, (name, report.error)
        assert status.state in ("ok", "stale"), name
        world.runtime.clock.advance(dt.timedelta(minutes=2))  # type: ignore[attr-defined]
