"""The first read of a large ICS feed: where its time goes, and the cost cut by parsing only
the properties the mirror reads (server/ics/parse.py `trim`).

For a feed of N events (default 10,000), twice: a plain one (UID, DTSTAMP, DTSTART, DTEND,
SUMMARY: the shape of bench/bridge_bench_ics.py's feed) and one shaped like a published Outlook
calendar (descriptions, location, organizer and attendees, an alarm, the X-MICROSOFT-CDO and
X-MS-OLK lines: most of such a feed's bytes). For each, measured in the same run on the same
bytes (best of --repeat, seconds):

  [a] parse.read(whole=True): every property parsed by icalendar (the baseline: the read
      before this change);
  [b] parse.read(): only the properties read (trim, then icalendar);
  [c] the engine's whole first read (a real HTTP server on loopback, one GET, the mirror
      written to SQLite) with [b], and the same with [a] swapped in (baseline).

The events found are compared: [a] and [b] must give the same mirror rows.

    python bench/ics_bench.py [--events 10000] [--repeat 2] [--profile]"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _folder in (str(REPO), str(TESTS), str(TESTS / "integration"),
                str(Path(__file__).resolve().parent)):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

from api_bench import database_url, label  # noqa: E402

OUTLOOK_EXTRA = [
    "DESCRIPTION:Agenda for the quarterly review\\, with the notes from last time:\\n"
    "1. Budget\\n2. Hiring\\n3. Anything else\\; bring your laptop. Join online at "
    "https://teams.example.com/l/meetup-join/19%3ameeting_abcdefghijklmnop%40thread.v2/0",
    "LOCATION:Meeting room 4.12 (Building B)",
    "CLASS:PUBLIC",
    "PRIORITY:5",
    "SEQUENCE:0",
    "CREATED:20260101T080000Z",
    "LAST-MODIFIED:20260102T090000Z",
    "ORGANIZER;CN=Boss Person:mailto:boss@example.com",
    "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE;CN=Anna Employee:"
    "mailto:anna@example.com",
    "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Bo Colleague:"
    "mailto:bo@example.com",
    "X-MICROSOFT-CDO-APPT-SEQUENCE:0",
    "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
    "X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY",
    "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE",
    "X-MICROSOFT-CDO-IMPORTANCE:1",
    "X-MICROSOFT-CDO-INSTTYPE:0",
    "X-MICROSOFT-DONOTFORWARDMEETING:FALSE",
    "X-MICROSOFT-DISALLOW-COUNTER:FALSE",
    "X-MS-OLK-AUTOFILLLOCATION:FALSE",
    "X-MS-OLK-CONFTYPE:0",
    "BEGIN:VALARM",
    "ACTION:DISPLAY",
    "DESCRIPTION:REMINDER",
    "TRIGGER;RELATED=START:-PT15M",
    "END:VALARM",
]


def events(now: dt.datetime, count: int, outlook: bool) -> list[str]:
    from ics_world import vevent

    found = []
    for n in range(count):
        start = now + dt.timedelta(days=1 + n // 30, minutes=20 * (n % 30))
        found.append(vevent(f"e{n}", start, start + dt.timedelta(minutes=15),
                            f"SUMMARY:Event {n}", *(OUTLOOK_EXTRA if outlook else [])))
    return found


def best(repeat: int, work: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return min(times), result


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import delete, update

    import ics_world
    from ics_world import make_ics_world
    from server.db.models import IcsMirroredEvent, IcsReadState
    from server.ics import parse
    from server.ics.fetch import fetch
    from server.sync.engine import Engine

    # A loaded machine may take more than the tests' 1 s to serve a large feed.
    ics_world.ICS_TOML = ics_world.ICS_TOML.replace(
        "timeout_seconds = 1\ntotal_seconds = 3", "timeout_seconds = 120\ntotal_seconds = 300")
    rows: list[tuple[str, float, float]] = []
    for outlook in (False, True):
        kind = "Outlook-shaped" if outlook else "plain"
        with tempfile.TemporaryDirectory(prefix="ics-bench-") as folder, \
                database_url("sqlite", Path(folder)) as url, \
                make_ics_world(Path(folder), url, megabytes=256) as world:
            world.publish(*events(world.now, args.events, outlook))
            body = fetch(world.server.url(world.path), world.runtime.config.ics).body
            window = dict(tzid="Europe/Copenhagen", start=world.now - dt.timedelta(days=30),
                          end=world.now + dt.timedelta(days=400), max_instances=200_000)
            before, whole = best(args.repeat, lambda: parse.read(body, whole=True, **window))
            after, trimmed = best(args.repeat, lambda: parse.read(body, **window))
            assert whole.events == trimmed.events and len(trimmed.events) == args.events
            rows.append((f"parse.read, {kind} feed of {label(args.events)} events "
                         f"({len(body) / 1e6:.1f} MB)", before, after))
            if args.profile:
                profile = cProfile.Profile()
                profile.runcall(parse.read, body, **window)
                pstats.Stats(profile).sort_stats("cumulative").print_stats(12)
            engine_times = []
            for whole_read in (True, False):
                original = parse.read

                def swapped(data: bytes, **kwargs: Any) -> Any:
                    return original(data, whole=whole_read, **kwargs)

                parse.read = swapped  # type: ignore[assignment]
                try:
                    with world.runtime.db.write() as session:
                        session.execute(delete(IcsMirroredEvent))
                        session.execute(update(IcsReadState).values(sync_token=None))
                    worker = Engine(world.runtime, worker="bench",
                                    providers=[world.engine().providers[0]])
                    began = time.perf_counter()
                    [report] = worker.run_once(force_pull=True)
                    engine_times.append(time.perf_counter() - began)
                    assert report.pulled is not None, report.error
                    assert report.pulled.imported == args.events, report.pulled
                finally:
                    parse.read = original  # type: ignore[assignment]
            rows.append((f"engine first read (GET, parse, mirror on SQLite), {kind}",
                         engine_times[0], engine_times[1]))
    width = max(len(name) for name, _, _ in rows)
    print(f"{'':{width}}  {'whole (before)':>15}  {'trimmed (after)':>15}  {'ratio':>6}")
    for name, before, after in rows:
        print(f"{name:{width}}  {before:>14.2f}s  {after:>14.2f}s  {before / after:>5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top of [b]")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
