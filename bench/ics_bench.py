"""The first read of a large ICS feed: where its time goes, and the costs cut by parsing only
the properties the mirror reads (server/ics/parse.py `trim`) and by writing the mirror in
batches (server/domain/mirrored.py `apply_changes`: executemany INSERTs, not one ORM object
per event).

For a feed of N events (default 10,000), twice: a plain one (UID, DTSTAMP, DTSTART, DTEND,
SUMMARY: the shape of bench/bridge_bench_ics.py's feed) and one shaped like a published Outlook
calendar (descriptions, location, organizer and attendees, an alarm, the X-MICROSOFT-CDO and
X-MS-OLK lines: most of such a feed's bytes). For each, measured in the same run on the same
bytes (best of --repeat, seconds):

  [a] parse.read(whole=True): every property parsed by icalendar (the baseline of `trim`);
  [b] parse.read(): only the properties read (trim, then icalendar);
  [c] the engine's whole first read (a real HTTP server on loopback, one GET, the mirror
      written to the database): with [a] next to [b] (mirror batched), and with the mirror
      written row by row (`row_by_row`, the write path before batching, kept here as the
      baseline) next to batched ([b] for both).

The events found are compared: [a] and [b] must give the same mirror rows, and so must both
write paths. The last lines set each engine read against [b]: what the engine adds to the parse.

    python bench/ics_bench.py [--events 10000] [--repeat 2] [--engine sqlite|postgresql]
                              [--profile]"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

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
        gc.collect()
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return min(times), result


def row_by_row(session: Any, *, business_id: int, connection_id: int, google_calendar: str,
               changes: Sequence[Any], full: bool, policy: Any, now: dt.datetime,
               model: Any) -> Any:
    """The mirror's write path before batching, for the baseline: one ORM object per event,
    flushed at commit as one INSERT per row. Only what a first read of a feed needs (an empty
    mirror, events only), which the bench checks."""
    from sqlalchemy import func, select

    from server.domain import mirrored

    assert full and all(isinstance(change, mirrored.RemoteEvent) for change in changes)
    assert session.execute(select(func.count()).select_from(model).where(
        model.connection_id == connection_id)).scalar_one() == 0
    result = mirrored.MirrorResult()
    for change in changes:
        session.add(model(business_id=business_id, connection_id=connection_id,
                          google_calendar=google_calendar, event_id=change.event_id,
                          **mirrored._values(change, policy, now)))
        result.longest_seconds = max(result.longest_seconds, int(
            (max(change.end_utc, change.start_utc) - change.start_utc).total_seconds()))
        result.imported += 1
    return result


def mirror_rows(world: Any) -> list[tuple[Any, ...]]:
    """The mirror's rows (everything but their ids), to compare the runs."""
    from sqlalchemy import select

    from server.db.models import IcsMirroredEvent as Row

    with world.runtime.db.read() as session:
        return sorted(tuple(row) for row in session.execute(select(
            Row.business_id, Row.connection_id, Row.google_calendar, Row.event_id,
            Row.recurring_event_id, Row.summary, Row.all_day, Row.start_utc, Row.end_utc,
            Row.start_date, Row.end_date, Row.transparency, Row.status, Row.event_type,
            Row.self_response, Row.blocks, Row.updated_at)))


def engine_read(world: Any, count: int, *, whole: bool, batched: bool) -> float:
    """The engine's first read of the world's feed into an empty mirror (seconds): the parse
    whole or trimmed, the mirror written batched or row by row."""
    from sqlalchemy import delete, update

    from server.db.models import IcsMirroredEvent, IcsReadState
    from server.domain import mirrored
    from server.ics import parse
    from server.sync.engine import Engine

    original_read, original_apply = parse.read, mirrored.apply_changes

    def swapped(data: bytes, **kwargs: Any) -> Any:
        return original_read(data, whole=whole, **kwargs)

    parse.read = swapped  # type: ignore[assignment]
    if not batched:
        mirrored.apply_changes = row_by_row  # type: ignore[assignment]
    try:
        with world.runtime.db.write() as session:
            session.execute(delete(IcsMirroredEvent))
            session.execute(update(IcsReadState).values(sync_token=None))
        worker = Engine(world.runtime, worker="bench", providers=[world.engine().providers[0]])
        began = time.perf_counter()
        [report] = worker.run_once(force_pull=True)
        took = time.perf_counter() - began
    finally:
        parse.read, mirrored.apply_changes = original_read, original_apply  # type: ignore
    assert report.pulled is not None, report.error
    assert report.pulled.imported == count, report.pulled
    return took


def run(args: argparse.Namespace) -> None:
    import ics_world
    from ics_world import make_ics_world
    from server.ics import parse
    from server.ics.fetch import fetch

    # A loaded machine may take more than the tests' 1 s to serve a large feed.
    ics_world.ICS_TOML = ics_world.ICS_TOML.replace(
        "timeout_seconds = 1\ntotal_seconds = 3", "timeout_seconds = 120\ntotal_seconds = 300")
    rows: list[tuple[str, float, float]] = []
    shares: list[str] = []
    for outlook in (False, True):
        kind = "Outlook-shaped" if outlook else "plain"
        with tempfile.TemporaryDirectory(prefix="ics-bench-") as folder, \
                database_url(args.engine, Path(folder)) as url, \
                make_ics_world(Path(folder), url, megabytes=256) as world:
            world.publish(*events(world.now, args.events, outlook))
            body = fetch(world.server.url(world.path), world.runtime.config.ics).body
            window = dict(tzid="Europe/Copenhagen", start=world.now - dt.timedelta(days=30),
                          end=world.now + dt.timedelta(days=400), max_instances=200_000)
            before, whole = best(args.repeat, lambda: parse.read(body, whole=True, **window))
            after, trimmed = best(args.repeat, lambda: parse.read(body, **window))
            assert whole.events == trimmed.events and len(trimmed.events) == args.events
            rows.append((f"parse.read, {kind} feed of {label(args.events)} events "
                         f"({len(body) / 1e6:.1f} MB): whole -> trimmed", before, after))
            if args.profile:
                profile = cProfile.Profile()
                profile.runcall(parse.read, body, **window)
                pstats.Stats(profile).sort_stats("cumulative").print_stats(12)
            # Round-robin (one run of each variant per round, the best of the rounds kept), so
            # that a change in the machine's load hits every variant alike.
            found: dict[tuple[bool, bool], float] = {}
            rows_then: list[tuple[Any, ...]] = []
            for _ in range(args.repeat):
                for whole_read, batched in ((True, True), (False, False), (False, True)):
                    gc.collect()
                    took = engine_read(world, args.events, whole=whole_read, batched=batched)
                    found[whole_read, batched] = min(took, found.get((whole_read, batched),
                                                                     took))
                    rows_now = mirror_rows(world)
                    assert len(rows_now) == args.events
                    assert not rows_then or rows_now == rows_then, "different mirrors written"
                    rows_then = rows_now
            engine = f"engine first read (GET, parse, mirror on {args.engine}), {kind}"
            rows.append((f"{engine}: parse whole -> trimmed", found[True, True],
                         found[False, True]))
            rows.append((f"{engine}: mirror row by row -> batched", found[False, False],
                         found[False, True]))
            shares.append(f"{kind}: parse.read {after:.2f} s; engine first read "
                          f"{found[False, False] / after:.2f}x that with the mirror row by row, "
                          f"{found[False, True] / after:.2f}x batched")
    width = max(len(name) for name, _, _ in rows)
    print(f"{'':{width}}  {'before':>9}  {'after':>9}  {'ratio':>6}")
    for name, before, after in rows:
        print(f"{name:{width}}  {before:>8.2f}s  {after:>8.2f}s  {before / after:>5.1f}x")
    for line in shares:
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the mirror's database (PostgreSQL: a throwaway server)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top of [b]")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
