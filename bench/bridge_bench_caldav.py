"""The bridge benchmark's CalDAV part (`bench/bridge_bench.py --provider caldav`): the same
measures against a real stock Radicale behind the counting proxy of tests/caldav_servers.py.

[1] First import of N events (N = --events / 10, the events PUT straight into Radicale): one
    sync-collection REPORT plus one calendar-multiget per 100 events. Baseline time: the same
    multigets sent by the client alone.
[2] Pushing M new bookings: one PUT each. Baseline time: M PUTs of the same size by the client
    alone.
[3] An idle pass: one request per read calendar (the sync-collection REPORT), nothing else.
[4] Latency from a booking change to Radicale receiving its copy, with `Engine.run` in a thread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from api_bench import database_url, label


def _ics(uid: str, start: dt.datetime) -> str:
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    end = (start + dt.timedelta(minutes=30)).strftime("%Y%m%dT%H%M%SZ")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:{stamp}\r\nDTSTART:{stamp}\r\nDTEND:{end}\r\n"
            "SUMMARY:Busy\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def run_caldav(engine: str, args: argparse.Namespace, row: Any) -> tuple[list[Any],
                                                                         list[float]]:
    """(rows, latency samples) for one database engine; `row` is bridge_bench.Row."""
    from caldav_servers import Quirks, proxy, radicale
    from caldav_world import make_caldav_world
    from server.caldav import connections, dav
    from server.caldav.client import CalDAVClient
    from server.domain import bookings
    from server.sync.engine import Engine

    events = max(1, args.events // 10)
    quirks = Quirks()
    with tempfile.TemporaryDirectory(prefix="bridge-bench-caldav-") as folder, \
            database_url(engine, Path(folder)) as url, \
            radicale(Path(folder) / "radicale") as real, proxy(real, quirks) as server, \
            make_caldav_world(Path(folder), url, server) as world:
        rows = []
        direct = CalDAVClient(real.calendar_url, real.user, real.password)
        start = world.now + dt.timedelta(days=3)
        names = []
        for n in range(events):
            names.append(f"bench-{n}.ics")
            direct.call("PUT", dav.resource_url(real.calendar_url, names[-1]),
                        body=_ics(f"bench-{n}", start + dt.timedelta(hours=n)),
                        headers={"Content-Type": "text/calendar"})
        with world.runtime.db.write() as session:
            connections.update_settings(session, world.business, world.connection,
                                        now=world.now, direction="from_caldav")
        worker = Engine(world.runtime, worker="bench", providers=[world.provider()],
                        unthrottled=True)
        quirks.requests.clear()
        answered = len(quirks.answered)
        began = time.perf_counter()
        [report] = worker.run_once(force_pull=True)
        seconds = time.perf_counter() - began
        assert report.error is None and report.pulled is not None, report.error
        assert report.pulled.imported == events, report.pulled.imported
        # (the first request of a new client is answered 401 and sent again with the password:
        # counted once)
        reports = sum(1 for method, _, status in quirks.answered[answered:]
                      if method == "REPORT" and status != 401)
        began = time.perf_counter()
        dav.multiget(direct, real.calendar_url, names, None)
        base = time.perf_counter() - began
        rows.append(row(f"[1] import {label(events)} CalDAV events: REPORT requests", reports,
                        1 + math.ceil(events / dav.MULTIGET_CHUNK), seconds, base))
        with world.runtime.db.write() as session:
            connections.update_settings(session, world.business, world.connection,
                                        now=world.now, direction="both")
        worker.run_once(force_pull=True)
        for n in range(args.bookings):
            world.book(1 + n // 8, 9 + n % 8)
        quirks.requests.clear()
        began = time.perf_counter()
        while True:
            done = worker.run_once()
            assert all(r.error is None for r in done), done
            if not any(r.pushed is not None and r.pushed.writes for r in done):
                break
        seconds = time.perf_counter() - began
        puts = sum(1 for r in quirks.requests if r.startswith("PUT"))
        began = time.perf_counter()
        for n in range(args.bookings):
            direct.call("PUT", dav.resource_url(real.calendar_url, f"base-{n}.ics"),
                        body=_ics(f"base-{n}", start + dt.timedelta(hours=n)),
                        headers={"Content-Type": "text/calendar", "If-None-Match": "*"})
        base = time.perf_counter() - began
        rows.append(row(f"[2] push {label(args.bookings)} bookings: PUT requests", puts,
                        args.bookings, seconds, base))
        worker.run_once(force_pull=True)  # reads our own copies' arrival once
        quirks.requests.clear()
        began = time.perf_counter()
        worker.run_once(force_pull=True)
        rows.append(row("[3] idle pass: requests", len(quirks.requests), 1,
                        time.perf_counter() - began))
        delays = _latency(world, worker, quirks, args.samples, bookings)
        direct.close()
    return rows, delays


def _latency(world: Any, worker: Any, quirks: Any, samples: int, bookings: Any) -> list[float]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    found: list[float] = []
    try:
        for n in range(samples):
            time.sleep(0.1 + (n % 5) * 0.1)  # not in step with the engine's half-second look
            before = len(quirks.answered)
            began = time.monotonic()
            with world.runtime.db.write() as session:
                booking = bookings.create_booking(
                    session, world.business, calendar_id=world.anna, service_id=world.service,
                    start=dt.datetime.combine(world.first_day + dt.timedelta(days=40 + n),
                                              dt.time(9)), now=world.now).id
            mark = f"bookingcal-booking-{booking}-"
            while time.monotonic() < began + 30:
                if any(m == "PUT" and mark in path for m, path, _ in quirks.answered[before:]):
                    found.append(time.monotonic() - began)
                    break
                time.sleep(0.005)
            else:
                raise AssertionError(f"booking {booking} did not reach Radicale within 30 s")
    finally:
        stop.set()
        thread.join(timeout=10)
    return found
