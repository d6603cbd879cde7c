"""The ICS half of bench/bridge_bench.py (`--provider ics`): a calendar link served by a real
HTTP server on loopback (tests/fakes/ics_server.py), read through the engine with the ICS
adapter. Request counts are what the design promises; times are printed next to a baseline
measured in the same run: the same fetch by server/ics/fetch.py alone (no parsing, no
database).

[1] First read of a feed of N events: one GET, N events mirrored.
[2] An idle pass with the source due and the feed unchanged: one conditional GET (304),
    nothing rewritten.
[3] Twenty passes within the source's interval, then one after it: one request in all (the
    passes in between cost one indexed query each, no request).
[4] Latency from "read again" (a refresh asked for) with a changed feed to its event mirrored,
    the engine's `run` loop in a thread (median and p95)."""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from api_bench import database_url, label


def _feed(world: Any, count: int, extra: str = "") -> None:
    from ics_world import vevent

    events = [vevent(f"e{n}", world.now + dt.timedelta(days=1 + n // 30, minutes=20 * (n % 30)),
                     world.now + dt.timedelta(days=1 + n // 30, minutes=20 * (n % 30) + 15),
                     f"SUMMARY:Event {n}") for n in range(count)]
    if extra:
        events.append(extra)
    world.publish(*events)


def run_ics(engine: str, args: argparse.Namespace, row: Any) -> tuple[list[Any], list[float]]:
    """(rows, latency samples) for one database engine; `row` is bridge_bench.Row."""
    from ics_world import make_ics_world, vevent
    from server.ics import sources
    from server.ics.fetch import fetch
    from server.sync.engine import Engine

    with tempfile.TemporaryDirectory(prefix="bridge-bench-ics-") as folder, \
            database_url(engine, Path(folder)) as url, \
            make_ics_world(Path(folder), url, megabytes=64) as world:
        rows = []
        _feed(world, args.events)
        settings = world.runtime.config.ics
        feed_url = world.server.url(world.path)
        began = time.perf_counter()
        fetch(feed_url, settings)
        baseline = time.perf_counter() - began
        worker = Engine(world.runtime, worker="bench", providers=[world.engine().providers[0]])
        before = len(world.server.requests)
        began = time.perf_counter()
        [report] = worker.run_once(force_pull=True)
        seconds = time.perf_counter() - began
        assert report.error is None and report.pulled is not None, report.error
        assert report.pulled.imported == args.events, report.pulled.imported
        rows.append(row(f"[1] ics: first read of a feed of {label(args.events)} events: GETs",
                        len(world.server.requests) - before, 1, seconds, baseline))

        before = len(world.server.requests)
        world.runtime.clock.advance(dt.timedelta(hours=2))
        began = time.perf_counter()
        [report] = worker.run_once()
        seconds = time.perf_counter() - began
        assert report.pulled is not None and report.pulled.imported == 0
        assert world.server.requests[-1]["status"] == 304
        rows.append(row("[2] ics: idle pass, source due, feed unchanged: requests (304)",
                        len(world.server.requests) - before, 1, seconds))

        before = len(world.server.requests)
        world.runtime.clock.advance(dt.timedelta(hours=2))
        began = time.perf_counter()
        worker.run_once()  # due: the one request
        for _ in range(20):
            world.runtime.clock.advance(dt.timedelta(seconds=60))
            assert worker.run_once() == []
        seconds = time.perf_counter() - began
        rows.append(row("[3] ics: 21 passes, the source due once: requests of any kind",
                        len(world.server.requests) - before, 1, seconds))

        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        rng = random.Random(7)
        delays: list[float] = []
        try:
            for n in range(args.samples):
                time.sleep(rng.uniform(0.0, 0.5))
                start = world.now + dt.timedelta(days=200 + n)  # within ics.horizon_days
                _feed(world, 10, vevent(f"late{n}", start, start + dt.timedelta(hours=1)))
                began = time.monotonic()
                with world.runtime.db.write() as session:
                    sources.refresh(session, world.business, world.source)
                deadline = began + 30
                while time.monotonic() < deadline:
                    if f"late{n}" in _mirrored_ids(world):
                        delays.append(time.monotonic() - began)
                        break
                    time.sleep(0.005)
                else:
                    raise AssertionError(f"late{n} was not mirrored within 30 s")
        finally:
            stop.set()
            thread.join(timeout=10)
        return rows, delays


def _mirrored_ids(world: Any) -> set[str]:
    from sqlalchemy import select

    from server.db.models import IcsMirroredEvent

    with world.runtime.db.read() as session:
        return set(session.execute(select(IcsMirroredEvent.event_id).where(
            IcsMirroredEvent.connection_id == world.source)).scalars())
