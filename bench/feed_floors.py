#!/usr/bin/env python
"""The feed's floors and targets for bench/caldav_bench.py (issue 14, the feed half), kept apart
from the CalDAV rows so that both grow without touching each other.

Floors, each a server in its own process, asked by the same kind of client (one keep-alive
requests.Session each), interleaved round by round with ours so that the machine's noise falls
on all alike:
- bare: a WSGI function under waitress answering 304 with an ETag;
- flask: a Flask route under waitress answering 304 with an ETag;
- query: a WSGI function under waitress answering the feed body built as one string by one SQL
  query (group_concat/string_agg of the rendered texts of the window, in start order) between
  our calendar's head and tail: what a warm identity feed cannot beat;
- "the same body compressed once": zlib at our level over our identity body, in this process:
  what a gzip feed that recompresses on every request costs at least.

Run by caldav_bench.py; also `python bench/feed_floors.py serve bare|flask|query ...` (the
floor processes themselves)."""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

ETAG = '"floor"'


# ------------------------------------------------------------------------ the floor servers


def bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("304 Not Modified", [("ETag", ETAG)])
    return []


def flask_app() -> Any:
    from flask import Flask, Response

    app = Flask("floor")

    @app.route("/feeds/<token>.ics")
    def feed(token: str) -> Response:
        return Response(status=304, headers={"ETag": ETAG})

    return app


def query_app(url: str, calendar_id: int, start: str, end: str, head: bytes,
              tail: bytes) -> Callable[..., list[bytes]]:
    """The identity floor: one query builds the events' text; head and tail around it."""
    import threading

    local = threading.local()
    if url.startswith("sqlite"):
        import sqlite3

        path = url.split("///", 1)[1]
        sql = ("SELECT group_concat(text, '') FROM (SELECT r.text AS text FROM bookings b "
               "JOIN rendered_items r ON r.kind = 'booking' AND r.item_id = b.id "
               "AND r.profile = 'full' WHERE b.calendar_id = ? AND b.status = 'confirmed' "
               "AND b.start_utc >= ? AND b.start_utc < ? ORDER BY b.start_utc, b.id)")

        def connect() -> Any:
            return sqlite3.connect(path, check_same_thread=False)
        params: Any = (calendar_id, start, end)
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        sql = ("SELECT string_agg(r.text, '' ORDER BY b.start_utc, b.id) FROM bookings b "
               "JOIN rendered_items r ON r.kind = 'booking' AND r.item_id = b.id "
               "AND r.profile = 'full' WHERE b.calendar_id = %s AND b.status = 'confirmed' "
               "AND b.start_utc >= %s AND b.start_utc < %s")

        def connect() -> Any:
            return psycopg.connect(dsn, autocommit=True)
        params = (calendar_id, dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end))

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = connect()
        events = connection.execute(sql, params).fetchone()[0] or ""
        body = head + events.encode("utf-8") + tail
        start_response("200 OK", [("Content-Type", "text/calendar; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app


def serve(argv: Sequence[str]) -> None:
    import waitress

    kind, port = argv[0], int(argv[1])
    if kind == "bare":
        app: Any = bare_app
    elif kind == "flask":
        app = flask_app()
    else:
        url, calendar_id, start, end, head, tail = argv[2:8]
        app = query_app(url, int(calendar_id), start, end, Path(head).read_bytes(),
                        Path(tail).read_bytes())
    waitress.serve(app, host="127.0.0.1", port=port, threads=8, _quiet=True)


# ------------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class Probe:
    """One target of an interleaved measurement: a name and a request returning its time."""

    name: str
    run: Callable[[], float]  # ms


def interleaved(probes: Sequence[Probe], rounds: int, per_round: int, warmup: int = 3
                ) -> dict[str, float]:
    """Median ms of each probe, asked `per_round` times in turn for `rounds` rounds (the order
    reversed every other round)."""
    for probe in probes:
        for _ in range(warmup):
            probe.run()
    samples: dict[str, list[float]] = {p.name: [] for p in probes}
    for number in range(rounds):
        order = list(probes) if number % 2 == 0 else list(reversed(probes))
        for probe in order:
            for _ in range(per_round):
                samples[probe.name].append(probe.run())
    return {name: statistics.median(values) for name, values in samples.items()}


def timed_get(session: Any, url: str, expect: int, headers: dict[str, str]) -> float:
    began = time.perf_counter()
    response = session.get(url, headers=headers, stream=True, timeout=600)
    response.raw.read(decode_content=False)
    elapsed = (time.perf_counter() - began) * 1000
    response.close()
    if response.status_code != expect:
        raise RuntimeError(f"{url.split('/feeds/')[0]} answered {response.status_code}, "
                           f"expected {expect}")
    return elapsed


def compress_once_ms(body: bytes, runs: int = 5) -> float:
    """Median ms of compressing `body` once at the feed's level (6, gzip wrapper)."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        compressor.compress(body)
        compressor.flush()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "serve":
        serve(sys.argv[2:])
    else:
        raise SystemExit("usage: feed_floors.py serve bare|flask|query PORT [...]")
