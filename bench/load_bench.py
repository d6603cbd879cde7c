#!/usr/bin/env python
"""Load on a whole deployment: nginx (the shipped contrib/nginx/bookingcal.conf, TLS) in front of
one and then two `bookingcal serve` processes, driven from this process with realistic traffic.

For each number of server processes, a fresh deployment (SQLite, or one database on a throwaway
PostgreSQL) gets a business with three calendars, some bookings, and --links private links
(each on one calendar, profiles mixed). Then, for --seconds, --clients threads, each with its
own keep-alive connection to nginx, in the proportions of --mix:

- poll a random link's feed with the ETag they last got (most answers are 304),
- poll a random link's calendar with a CalDAV sync-collection REPORT and the sync token they
  last got,

while one more thread writes --write-rate bookings a second through the API (a free slot each,
so no 409), each of which changes what the links of its calendar show. Printed per deployment: requests per second in all and per server
process (from nginx's access log, which names the upstream), latency percentiles per kind of
request, the share of feed polls answered 304, and errors (anything but 200/304, 207 and 201,
or no answer). The baseline, measured in the same run under the same load: GET /healthz
through nginx (one trivial database query), so a kind's p50 is also shown as a multiple of it,
and the two-process throughput as a multiple of the one-process one.

Usage: .venv/bin/python bench/load_bench.py [--engine sqlite|postgresql] [--links 300]
           [--bookings 20] [--clients 16] [--seconds 20] [--write-rate 1] [--processes 1,2]
           [--quick]

Exit status 1 when any request failed. Absolute figures depend on the machine (and on how many
cores nginx, the servers and this driver share): compare ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
for _folder in (REPO, REPO / "tests", REPO / "tests" / "ops", Path(__file__).resolve().parent):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

import requests  # noqa: E402

from api_bench import NOISE, table  # noqa: E402
from deployment import Deployment, session_for, start_deployment  # noqa: E402
from support import monday_after_next  # noqa: E402

KINDS = ("feed", "caldav-sync", "booking-write", "healthz (baseline)")
EXPECTED = {"feed": {200, 304}, "caldav-sync": {207}, "booking-write": {201},
            "healthz (baseline)": {200}}
SYNC_BODY = ('<?xml version="1.0" encoding="utf-8"?>\n'
             '<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token>'
             '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>')
TOKEN_RE = re.compile(r"<[A-Za-z0-9]*:?sync-token>([^<]+)</[A-Za-z0-9]*:?sync-token>")
CALENDARS = 20
BASELINE_SHARE = 0.05


@dataclass
class Link:
    token: str
    user: str
    collection: str  # path of its calendar's CalDAV collection, below the host
    etag: str | None = None
    sync_token: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class World:
    deployment: Deployment
    business: int
    calendars: list[int]
    service: int
    links: list[Link]
    next_slot: Iterator[int]
    slot_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer
    seconds: float


# The servers run on the real clock: every booking is dated from the real today. The seeded
# bookings start on the Monday after next; the written ones 60 days later, apart from them.
FIRST_DAY = monday_after_next()


def slot_start(slot: int) -> str:
    """A free slot: calendar-independent days from FIRST_DAY + 60, eight 45-minute slots a day
    (local time of the business)."""
    day, index = divmod(slot, 8)
    start = dt.datetime.combine(FIRST_DAY + dt.timedelta(days=60 + day), dt.time(8)) \
        + dt.timedelta(minutes=60 * index)
    return start.isoformat()


def prepare(deployment: Deployment, links: int, bookings_each: int) -> World:
    api = deployment.api()
    try:
        business = api.ok("POST", "/businesses", 201,
                          json={"name": "Load", "timezone": "Europe/Copenhagen"})["id"]
        base = f"/businesses/{business}"
        calendars = [api.ok("POST", f"{base}/calendars", 201, json={"name": f"Staff {n}"})
                     for n in range(CALENDARS)]
        service = api.ok("POST", f"{base}/services", 201,
                         json={"name": "Cut", "duration_minutes": 45})["id"]
        client = api.ok("POST", f"{base}/clients", 201,
                        json={"name": "Load Client", "email": "load@example.com"})["id"]
        for calendar in calendars:
            for n in range(bookings_each):
                start = dt.datetime.combine(FIRST_DAY, dt.time(8)) \
                    + dt.timedelta(days=n // 6, hours=n % 6)
                api.ok("POST", f"{base}/bookings", 201, json={
                    "calendar_id": calendar["id"], "service_id": service,
                    "client_id": client, "start": start.isoformat()})
        made = []
        path = deployment.public_url.split("://", 1)[1].split("/", 1)[1]
        for n in range(links):
            calendar = calendars[n % CALENDARS]
            link = api.ok("POST", f"{base}/links", 201, json={
                "scope": "calendar", "calendar_ids": [calendar["id"]],
                "profile": ("full", "limited", "busy")[n % 3]})
            made.append(Link(link["token"], link["caldav"]["username"],
                             f"/{path}dav/{link['caldav']['username']}/{calendar['slug']}/"))
    finally:
        api.session.close()
    counter = iter(range(10 ** 9))
    return World(deployment, business, [c["id"] for c in calendars], service, made, counter)


def one_request(world: World, session: requests.Session, kind: str, rng: random.Random
                ) -> int:
    url = world.deployment.url
    prefix = "/" + world.deployment.public_url.split("://", 1)[1].split("/", 1)[1]
    if kind == "healthz (baseline)":
        return session.get(f"{url}{prefix}healthz", timeout=60).status_code
    if kind == "booking-write":
        with world.slot_lock:
            slot = next(world.next_slot)
        response = session.post(f"{url}{prefix}api/v1/businesses/{world.business}/bookings",
                                json={"calendar_id": world.calendars[slot % CALENDARS],
                                      "service_id": world.service,
                                      "start": slot_start(slot // CALENDARS)}, timeout=60)
        return response.status_code
    link = rng.choice(world.links)
    if kind == "feed":
        with link.lock:
            etag = link.etag
        response = session.get(f"{url}{prefix}feeds/{link.token}.ics", timeout=60,
                               headers={"If-None-Match": etag} if etag else {})
        if response.status_code == 200:
            with link.lock:
                link.etag = response.headers.get("ETag")
        return response.status_code
    with link.lock:
        token = link.sync_token
    response = session.request("REPORT", f"{url}{link.collection}", auth=(link.user, link.token),
                               data=SYNC_BODY.format(token=token).encode(), timeout=60,
                               headers={"Content-Type": "application/xml", "Depth": "0"})
    if response.status_code == 207:
        found = TOKEN_RE.search(response.text)
        if found:
            with link.lock:
                link.sync_token = found.group(1)
    return response.status_code


def drive(world: World, clients: int, seconds: float, mix: dict[str, float],
          write_rate: float) -> list[Sample]:
    samples: list[Sample] = []
    lock = threading.Lock()
    began = time.monotonic()
    deadline = began + seconds
    kinds = list(mix)
    weights = [mix[k] for k in kinds]

    def timed(session: requests.Session, kind: str, rng: random.Random) -> Sample:
        started = time.perf_counter()
        try:
            # Basic auth for CalDAV replaces the bearer header on that request only.
            status = one_request(world, session, kind, rng)
        except requests.RequestException:
            status = 0
        return Sample(kind, status, time.perf_counter() - started)

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[Sample] = []
        with session_for(world.deployment) as session:
            while time.monotonic() < deadline:
                mine.append(timed(session, rng.choices(kinds, weights)[0], rng))
        with lock:
            samples.extend(mine)

    def writer() -> None:
        rng = random.Random(-1)
        mine: list[Sample] = []
        with session_for(world.deployment) as session:
            session.headers["Authorization"] = f"Bearer {_host_key()}"
            due = began
            while due < deadline:
                time.sleep(max(0.0, due - time.monotonic()))  # paced, not as fast as it can
                mine.append(timed(session, "booking-write", rng))
                due += 1 / write_rate
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(clients)]
    if write_rate > 0:
        threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def _host_key() -> str:
    from support import HOST_KEY
    return HOST_KEY


def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Result:
    processes: int
    seconds: float
    samples: list[Sample]
    per_upstream: Counter[str]

    @property
    def errors(self) -> list[Sample]:
        return [s for s in self.samples if s.status not in EXPECTED[s.kind]]

    def p50(self, kind: str) -> float:
        values = [s.seconds for s in self.samples if s.kind == kind]
        return percentile(values, 50) if values else float("nan")


def run_one(folder: Path, processes: int, database_url: str, args: argparse.Namespace
            ) -> Result:
    deployment = start_deployment(folder, processes=processes, database_url=database_url,
                                  extra='\n[logging]\nlevel = "WARNING"\n')
    try:
        world = prepare(deployment, args.links, args.bookings)
        mix = dict(zip(("feed", "caldav-sync"), args.mix))
        mix["healthz (baseline)"] = BASELINE_SHARE
        # Warm-up: every link's first feed and sync (200, full), as clients have done before.
        drive(world, min(args.clients, 4), args.seconds / 10, mix, 0)
        log = deployment.nginx.access_log
        offset = log.stat().st_size
        began = time.monotonic()
        samples = drive(world, args.clients, args.seconds, mix, args.write_rate)
        elapsed = time.monotonic() - began
        with log.open("rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode("utf-8", "replace")
        upstreams = Counter(re.findall(r"upstream=127\.0\.0\.1:(\d+)", lines))
        return Result(processes, elapsed, samples, upstreams)
    finally:
        deployment.stop()


def report(result: Result) -> str:
    out = [f"--- {result.processes} server process{'es' if result.processes > 1 else ''}: "
           f"{len(result.samples)} requests in {result.seconds:.1f}s = "
           f"{len(result.samples) / result.seconds:.0f} req/s through nginx"]
    for port, count in sorted(result.per_upstream.items()):
        out.append(f"    server process on port {port}: {count / result.seconds:.0f} req/s "
                   f"({count} requests)")
    baseline = result.p50("healthz (baseline)")
    rows = []
    for kind in KINDS:
        values = sorted(s.seconds for s in result.samples if s.kind == kind)
        if not values:
            continue
        p50 = percentile(values, 50)
        rows.append([kind, str(len(values)), f"{p50 * 1000:.1f}",
                     f"{percentile(values, 90) * 1000:.1f}",
                     f"{percentile(values, 99) * 1000:.1f}", f"{max(values) * 1000:.1f}",
                     f"{p50 / baseline:.2f}x" if baseline == baseline and baseline > 0 else "-"])
    out.append(table(["request", "count", "p50 ms", "p90 ms", "p99 ms", "max ms",
                      "p50 / healthz p50"], rows))
    feeds = [s for s in result.samples if s.kind == "feed"]
    not_modified = sum(1 for s in feeds if s.status == 304)
    out.append(f"  feed polls answered 304: {not_modified}/{len(feeds)} = "
               f"{100 * not_modified / max(1, len(feeds)):.1f}%")
    statuses = Counter((s.kind, s.status) for s in result.errors)
    out.append(f"  errors: {len(result.errors)}"
               + (f" ({dict(statuses)})" if statuses else ""))
    return "\n".join(out)


@contextmanager
def database_urls(engine: str, count: int) -> Iterator[list[str]]:
    """`count` empty database URLs: "" (SQLite in each deployment's folder) or databases on a
    throwaway PostgreSQL started here and removed on exit."""
    if engine == "sqlite":
        yield [""] * count
        return
    from pgserver import ThrowawayPostgres

    server = ThrowawayPostgres()
    server.start()
    try:
        for n in range(count):
            server.create_database(f"load{n}")
        yield [server.url(f"load{n}") for n in range(count)]
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--links", type=int, default=300)
    parser.add_argument("--bookings", type=int, default=20,
                        help="bookings per calendar before the run")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", default="1,2",
                        help="server process counts to compare, e.g. 1,2")
    parser.add_argument("--mix", type=float, nargs=2, default=(0.85, 0.10),
                        metavar=("FEED", "SYNC"),
                        help="shares of feed polls and CalDAV syncs among the readers' requests")
    parser.add_argument("--write-rate", type=float, default=1.0,
                        help="bookings written per second by the writer thread")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: a smoke run, figures mean nothing")
    args = parser.parse_args(argv)
    if args.quick:
        args.links, args.bookings, args.clients, args.seconds = 6, 1, 3, 2.0
    counts = [int(part) for part in args.processes.split(",") if part.strip()]
    if not counts or any(n < 1 or n > 8 for n in counts):
        parser.error("--processes: counts from 1 to 8, such as 1,2")
    print(f"=== Load through nginx: {args.engine}, {args.links} links on {CALENDARS} calendars, "
          f"{args.clients} clients, {args.seconds:g}s per deployment, mix feed/sync = "
          f"{'/'.join(f'{m:g}' for m in args.mix)} (+{BASELINE_SHARE:g} healthz baseline), "
          f"{args.write_rate:g} booking writes/s")
    print(NOISE)
    results = []
    with tempfile.TemporaryDirectory(prefix="bookingcal-load-") as temp, \
            database_urls(args.engine, len(counts)) as urls:
        for n, (processes, url) in enumerate(zip(counts, urls)):
            folder = Path(temp) / f"deployment-{n}"
            folder.mkdir()
            result = run_one(folder, processes, url, args)
            results.append(result)
            print(report(result), flush=True)
    if len(results) > 1:
        first = results[0]
        for other in results[1:]:
            ratio = (len(other.samples) / other.seconds) / (len(first.samples) / first.seconds)
            print(f"throughput with {other.processes} processes / with {first.processes}: "
                  f"{ratio:.2f}x")
    failed = sum(len(r.errors) for r in results)
    print(f"errors in all: {failed} (must be 0)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
