#!/usr/bin/env python
"""Benchmark of a private link's feed and read-only CalDAV against stock Radicale.

The same generated calendar (confirmed bookings inside the default feed window, each with its own
client whose name and e-mail are set) is loaded into:

(a) bookingcal: a fresh SQLite database per size, bookings, clients and journal rows
    bulk-inserted as the domain would have written them, one 'full' link for the calendar,
    served by `bookingcal serve` in a process of its own;
(b) stock Radicale (`python -m radicale`, multifilesystem storage, auth none, rights
    owner_only) in a process of its own, its collection folder filled with one .ics file per
    event holding exactly the text our CalDAV serves for that item.

Each server then answers, one server at a time: the feed GET cold (first request after start)
and warm (ours: GET /feeds/<token>.ics; Radicale: GET of the collection, the whole calendar), a
conditional GET with the ETag (ours answers 304; Radicale has no conditional GET and sends the
calendar again), PROPFIND Depth 1 on the calendar, a calendar-query REPORT for one week, a
sync-collection REPORT after one change (ours: PATCH through the API; Radicale: one file
rewritten), a calendar-multiget of 50 hrefs, and each process's peak memory (VmHWM).

The benchmark week holds the same 35 bookings at every size (5 a day); the rest of the calendar
is spread evenly over the remaining window, so the week's answer is the same at 1k and 100k and
the ratio 100k/1k shows whether its cost grows with the calendar's history.

Usage: .venv/bin/python bench/caldav_bench.py [--sizes 1000,10000,100000]
                                              [--radicale-sizes 1000,10000] [--quick]

Exit status 1 when a target is missed in a full run (never with --quick, whose sizes are too
small for the targets to mean anything). Absolute times depend on the machine; compare ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _folder in (str(REPO), str(TESTS), str(Path(__file__).resolve().parent)):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

from api_bench import NOISE, label, table  # noqa: E402  (bench/ helpers, stdlib-only imports)

TZID = "Europe/Copenhagen"
BOOKING_MINUTES = 45
WEEK_SLOTS = ((9, 0), (10, 0), (11, 0), (13, 0), (14, 0))  # local times, every day of the week
WEEK_ITEMS = 7 * len(WEEK_SLOTS)
MULTIGET_HREFS = 50
EDGE_MARGIN = dt.timedelta(days=2)   # keeps every booking inside the window if the day turns
WEEK_GUARD = dt.timedelta(days=1)    # no other booking this close to the benchmark week
BOOKINGCAL = Path(sys.executable).parent / "bookingcal"
RADICALE_USER, RADICALE_CALENDAR = "bench", "calendar"
START_SECONDS = 120
REQUEST_TIMEOUT = 1800
CALDAV_NS = "urn:ietf:params:xml:ns:caldav"
FIRST = ("Anna", "Bo", "Carla", "Dennis", "Emma", "Frederik", "Greta", "Hans", "Ida", "Jens",
         "Karen", "Lars", "Mette", "Niels", "Ole", "Pia", "Rasmus", "Sofie", "Tove", "Ulrik")
LAST = ("Andersen", "Berg", "Christensen", "Dahl", "Eriksen", "Frost", "Hansen", "Jensen",
        "Kristensen", "Larsen", "Madsen", "Nielsen", "Olsen", "Pedersen", "Rasmussen",
        "Schmidt", "Thomsen", "Vestergaard", "Winther", "Østergaard")


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Runs:
    """How often an operation is measured: `warmup` untimed runs, then at least `least` and at
    most `most` timed runs, stopping after `least` once `budget` seconds have been spent."""

    warmup: int
    least: int
    most: int
    budget: float


@dataclass(frozen=True)
class Plan:
    ours: tuple[int, ...]
    radicale: tuple[int, ...]
    quick: bool
    cheap: Runs      # 304, week query, multiget
    costly: Runs     # whole-calendar answers, sync after a change
    pg: tuple[int, ...] = ()  # sizes of the feed rows on PostgreSQL (feed floors section)

    @property
    def tenants(self) -> int:
        """Businesses in the feed rows' tenants comparison (vs 1)."""
        return QUICK_TENANTS if self.quick else TENANTS

    @property
    def sizes(self) -> list[int]:
        return sorted(set(self.ours) | set(self.radicale))


FULL_RUNS = (Runs(warmup=2, least=10, most=20, budget=3.0),
             Runs(warmup=1, least=5, most=15, budget=20.0))
QUICK_RUNS = (Runs(warmup=1, least=3, most=5, budget=0.5),
              Runs(warmup=1, least=3, most=5, budget=0.5))


# ------------------------------------------------------------------------ the calendar


@dataclass(frozen=True)
class Event:
    start: dt.datetime  # UTC
    end: dt.datetime
    uid: str
    client_name: str
    client_email: str


@dataclass(frozen=True)
class Generated:
    """One calendar, the same for both servers."""

    count: int
    now: dt.datetime
    window: tuple[dt.datetime, dt.datetime]
    week: tuple[dt.datetime, dt.datetime]
    events: list[Event]      # in start order; booking id = index + 1
    other_minutes: int       # length of the bookings outside the benchmark week

    @property
    def multiget_uids(self) -> list[str]:
        step = max(1, self.count // MULTIGET_HREFS)
        return [self.events[i].uid for i in range(0, self.count, step)][:MULTIGET_HREFS]

    @property
    def changed_index(self) -> int:
        """The booking changed before each sync: a third into the calendar, outside the week."""
        index = self.count // 3
        while self.week[0] <= self.events[index].start < self.week[1]:
            index += 1
        return index


def floor_minute(value: dt.datetime) -> dt.datetime:
    return value.replace(second=0, microsecond=0)


def generate(count: int, now: dt.datetime, days_back: int, days_ahead: int) -> Generated:
    """`count` bookings inside the feed window [midnight UTC `days_back` days ago, + back+ahead
    days): 5 a day in the benchmark week (a Monday-to-Monday UTC week four weeks ahead), the
    rest evenly spaced over the window outside the week (45 minutes long when they fit, shorter
    on a calendar so dense that 45-minute bookings would overlap). Seeded per size."""
    from server.domain.timeutil import to_utc
    from server.publishing.feeds import feed_window

    if count < 2 * WEEK_ITEMS:
        raise SystemExit(f"error: sizes must be at least {2 * WEEK_ITEMS} bookings")
    window = feed_window(now, days_back, days_ahead)
    day = (now + dt.timedelta(days=28)).date()
    day += dt.timedelta(days=(7 - day.weekday()) % 7)
    week_start = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    week = (week_start, week_start + dt.timedelta(days=7))

    first, last = window[0] + EDGE_MARGIN, window[1] - EDGE_MARGIN
    before = (week[0] - WEEK_GUARD) - first
    after = last - (week[1] + WEEK_GUARD)
    others = count - WEEK_ITEMS
    step = (before + after).total_seconds() / others
    minutes = min(BOOKING_MINUTES, int((step - 60) // 60))
    if minutes < 5:
        raise SystemExit(f"error: {count} bookings do not fit the feed window without overlaps")

    starts: list[tuple[dt.datetime, int]] = []
    for i in range(others):
        offset = dt.timedelta(seconds=i * step)
        start = first + offset if offset < before else \
            week[1] + WEEK_GUARD + (offset - before)
        starts.append((floor_minute(start), minutes))
    for d in range(7):
        for hour, minute in WEEK_SLOTS:
            local = dt.datetime.combine(day + dt.timedelta(days=d), dt.time(hour, minute))
            starts.append((to_utc(local, TZID), BOOKING_MINUTES))
    starts.sort()

    rng = random.Random(f"caldav-bench-{count}")
    events = []
    for i, (start, length) in enumerate(starts):
        given, family = rng.choice(FIRST), rng.choice(LAST)
        events.append(Event(
            start=start, end=start + dt.timedelta(minutes=length),
            uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            client_name=f"{given} {family}",
            client_email=f"{given}.{family}.{i + 1}@example.com".lower().replace("ø", "oe")))
    return Generated(count, now, window, week, events, minutes)


# ------------------------------------------------------------------------ loading ours


@dataclass
class Ours:
    folder: Path
    config_path: Path
    env: dict[str, str]
    port: int
    business_id: int
    calendar_id: int
    slug: str
    link_id: int
    token: str
    load_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def collection_path(self) -> str:
        from server.publishing.linkurls import DAV_PATH, principal_name
        return f"{DAV_PATH}/{principal_name(self.link_id)}/{self.slug}/"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    for offset in range(0, len(rows), size):
        yield rows[offset:offset + size]


def load_ours(folder: Path, gen: Generated, url: str | None = None) -> Ours:
    """Schema and the business, calendar, service and link through the domain; then clients,
    bookings and journal rows bulk-inserted (executemany in chunks, synchronous=OFF for the
    load only) and the calendar's counters set as the domain would have left them. `url`: the
    database (default a new SQLite file in `folder`)."""
    from sqlalchemy import create_engine, event, insert, update

    from server.db.migrate import upgrade
    from server.db.models import Booking, Calendar, Client, JournalEntry
    from server.domain.businesses import create_business
    from server.domain.calendars import create_calendar
    from server.domain.links import create_link
    from server.domain.services import create_service
    from server.domain.timeutil import to_local
    from server.runtime import build_runtime
    from support import HOST_KEY, make_config

    began = time.perf_counter()
    port = free_port()
    url = url or f"sqlite:///{folder / 'data' / 'bookingcal.sqlite3'}"
    extra = (f'public_url = "http://127.0.0.1:{port}/"\n'
             f'[server]\nhost = "127.0.0.1"\nport = {port}\nthreads = 8\n'
             '[logging]\nlevel = "WARNING"\n'
             '[demo]\non_first_run = false\n')
    config = make_config(folder, url, extra)
    assert config.source is not None
    runtime = build_runtime(config)
    upgrade(runtime.db.engine)
    now = gen.now
    with runtime.db.write() as session:
        business = create_business(session, name="Salon Benchmark", timezone=TZID, now=now)
        calendar = create_calendar(session, business.id, name="Anna Berg", now=now)
        service = create_service(session, business.id, name="Haircut",
                                 duration_minutes=BOOKING_MINUTES, now=now)
        link, token = create_link(session, runtime.keyring, business.id, scope="calendar",
                                  profile="full", now=now, calendar_ids=[calendar.id],
                                  label="benchmark")
        ids = (business.id, calendar.id, service.id, link.id, calendar.slug,
               calendar.journal_seq)
    runtime.db.dispose()
    business_id, calendar_id, service_id, link_id, slug, seq0 = ids

    clients, bookings, entries = [], [], []
    longest = 0
    for i, ev in enumerate(gen.events):
        item_id, seq = i + 1, seq0 + i + 1
        longest = max(longest, int((ev.end - ev.start).total_seconds()))
        clients.append({"id": item_id, "business_id": business_id, "name": ev.client_name,
                        "email": ev.client_email, "phone": None, "address": None,
                        "notes": None, "erased_at": None, "created_at": now, "updated_at": now})
        bookings.append({
            "id": item_id, "business_id": business_id, "calendar_id": calendar_id,
            "client_id": item_id, "service_id": service_id, "uid": ev.uid,
            "status": "confirmed", "source": "staff", "start_utc": ev.start, "end_utc": ev.end,
            "occupied_start_utc": ev.start, "occupied_end_utc": ev.end, "tzid": TZID,
            "start_local": to_local(ev.start, TZID), "end_local": to_local(ev.end, TZID),
            "location": None, "notes": None, "revision": 0, "seq": seq, "created_at": now,
            "updated_at": now})
        entries.append({"business_id": business_id, "calendar_id": calendar_id, "seq": seq,
                        "kind": "booking", "item_id": item_id, "item_uid": ev.uid,
                        "action": "put", "created_at": now})

    engine = create_engine(url)

    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")  # the load only; the server sets its own
            cursor.close()

    with engine.begin() as conn:
        for model, rows in ((Client, clients), (Booking, bookings), (JournalEntry, entries)):
            for part in _chunks(rows):
                conn.execute(insert(model), part)
        conn.execute(update(Calendar).where(Calendar.id == calendar_id).values(
            journal_seq=seq0 + gen.count, max_span_seconds=longest, changed_at=now))
        if not url.startswith("sqlite"):
            # Rows inserted with their ids leave PostgreSQL's sequences behind.
            for table_name in ("clients", "bookings"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table_name}', "
                                     f"'id'), (SELECT max(id) FROM {table_name}))")
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKINGCAL_")}
    env.update(BOOKINGCAL_HOST_KEY=HOST_KEY, BOOKINGCAL_DATABASE_URL=url, PYTHONUNBUFFERED="1")
    return Ours(folder, config.source, env, port, business_id, calendar_id, slug, link_id,
                token, time.perf_counter() - began)


def check_loaded(ours: Ours, gen: Generated) -> str:
    """The loaded rows agree with each other as the domain keeps them (read back with sqlite3)."""
    path = ours.folder / "data" / "bookingcal.sqlite3"
    with sqlite3.connect(path) as conn:
        bookings, lo, hi = conn.execute(
            "SELECT count(*), min(seq), max(seq) FROM bookings WHERE calendar_id = ?",
            (ours.calendar_id,)).fetchone()
        entries = conn.execute("SELECT count(*) FROM journal WHERE calendar_id = ?",
                               (ours.calendar_id,)).fetchone()[0]
        seq, span = conn.execute("SELECT journal_seq, max_span_seconds FROM calendars "
                                 "WHERE id = ?", (ours.calendar_id,)).fetchone()
        mismatched = conn.execute(
            "SELECT count(*) FROM bookings b LEFT JOIN journal j ON j.calendar_id = b.calendar_id"
            " AND j.seq = b.seq AND j.item_id = b.id AND j.item_uid = b.uid"
            " WHERE j.id IS NULL").fetchone()[0]
    if bookings != gen.count or entries != gen.count + 1 or seq != hi or mismatched:
        raise RuntimeError(f"inconsistent load: {bookings} bookings (seq {lo}..{hi}), "
                           f"{entries} journal rows, journal_seq {seq}, {mismatched} unmatched")
    return f"journal_seq {seq} = {entries} journal rows, max_span_seconds {span}"


# ------------------------------------------------------------------------ loading Radicale


@dataclass
class Radicale:
    folder: Path
    config_path: Path
    port: int
    originals: dict[str, str] = field(default_factory=dict)
    load_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def collection_dir(self) -> Path:
        return (self.folder / "collections" / "collection-root" / RADICALE_USER
                / RADICALE_CALENDAR)

    @property
    def collection_path(self) -> str:
        return f"/{RADICALE_USER}/{RADICALE_CALENDAR}/"


def caldav_documents(ours: Ours, gen: Generated) -> Iterator[tuple[str, str]]:
    """(uid, text) of every item as our CalDAV serves it (the link's 'full' profile), rendered
    here by the server's own code without storing the rendered texts, so that ours stays cold."""
    from server.db import Database
    from server.db.models import Calendar
    from server.domain import journal
    from server.publishing.publish import Publisher
    from server.storage_backend import _document  # the exact text of a CalDAV resource

    database = Database(ours.env["BOOKINGCAL_DATABASE_URL"], pool_size=1)
    try:
        with database.read() as session:
            calendar = session.get(Calendar, ours.calendar_id)
            assert calendar is not None
            publisher = Publisher(session, journal.epoch(session), "full",
                                  business_id=calendar.business_id)
            for item in publisher.everything(calendar):
                yield item.uid, _document(item)
                publisher.fresh.clear()  # never saved: ours renders on its first request
    finally:
        database.dispose()


def load_radicale(folder: Path, ours: Ours, gen: Generated, keep: set[str]) -> Radicale:
    """A Radicale configuration and its collection folder with one .ics file per event."""
    began = time.perf_counter()
    port = free_port()
    radicale = Radicale(folder, folder / "radicale.conf", port)
    collection = radicale.collection_dir
    collection.mkdir(parents=True)
    (collection / ".Radicale.props").write_text('{"tag": "VCALENDAR"}', encoding="utf-8")
    written = 0
    for uid, text in caldav_documents(ours, gen):
        with open(collection / f"{uid}.ics", "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if uid in keep:
            radicale.originals[uid] = text
        written += 1
    if written != gen.count:
        raise RuntimeError(f"wrote {written} Radicale items for {gen.count} bookings")
    radicale.config_path.write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "[auth]\n"
        "type = none\n"
        "[rights]\n"
        "type = owner_only\n"
        "[storage]\n"
        "type = multifilesystem\n"
        f"filesystem_folder = {folder / 'collections'}\n"
        # Radicale ages its sync-token history by file modification times, which the kernel
        # stamps on the real clock: under libfaketime (the suite runs at other dates) the
        # default 30 days would already have passed. The bench never ages a token.
        "max_sync_token_age = 315360000\n"
        "[web]\n"
        "type = none\n"
        "[logging]\n"
        "level = warning\n", encoding="utf-8")
    radicale.load_seconds = time.perf_counter() - began
    return radicale


def changed_document(text: str, round_no: int) -> str:
    """The item with a new note and SEQUENCE, rendered with icalendar."""
    import icalendar

    document = icalendar.Calendar.from_ical(text)
    for component in document.walk("VEVENT"):
        description = str(component.get("DESCRIPTION", ""))
        for name in ("DESCRIPTION", "SEQUENCE", "LAST-MODIFIED", "DTSTAMP"):
            component.pop(name, None)
        stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        component.add("description", f"{description}\nNotes: benchmark change {round_no}")
        component.add("sequence", round_no)
        component.add("last-modified", stamp)
        component.add("dtstamp", stamp)
    return str(document.to_ical().decode("utf-8"))


# ------------------------------------------------------------------------ processes


class Process:
    """A server in its own process; output goes to a log file (printed if it fails)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path,
                 log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")
        self.popen = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                      stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def status_kib(self, key: str) -> int:
        """A value of /proc/<pid>/status in KiB (VmRSS, VmHWM)."""
        text = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"{key} not in /proc/{self.pid}/status")
        return int(match.group(1))

    def cpu_ms(self) -> float:
        """CPU time (user + system) the process has used so far, in ms (clock ticks: 10 ms
        resolution, so it is read over many requests)."""
        text = Path(f"/proc/{self.pid}/stat").read_text(encoding="ascii")
        fields = text[text.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    def runq_ms(self) -> float:
        """Time the process's threads have spent runnable but waiting for a CPU, in ms."""
        return runq_ms(self.pid)

    def peak_kib(self) -> int:
        """The process's peak RSS over its whole life, resets of VmHWM included."""
        self._lifetime_peak = max(getattr(self, "_lifetime_peak", 0), self.status_kib("VmHWM"))
        return self._lifetime_peak

    def peak_of(self, request: Callable[[], Reply]) -> tuple[Reply, int | None]:
        """Run one request; return it and how far the process's peak RSS rose above its RSS
        before the request (None if VmHWM cannot be reset here)."""
        self.peak_kib()
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5", encoding="ascii")
        except OSError:
            return request(), None
        before = self.status_kib("VmRSS")
        reply = request()
        return reply, max(0, self.status_kib("VmHWM") - before)

    def fail(self, message: str) -> None:
        self._log.flush()
        tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise RuntimeError(f"{self.name}: {message}\n--- its output ---\n{tail}")

    def wait_ready(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                self.fail(f"exited with status {self.popen.returncode} while starting")
            if ready():
                return
            time.sleep(0.05)
        self.fail(f"not ready within {START_SECONDS} s")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=15)
        self._log.close()


def runq_ms(pid: int | str) -> float:
    """Run-queue delay summed over the live threads of process `pid` (/proc/<pid>/task/*/
    schedstat, second field, ns), in ms: on a loaded machine the share of a request's wall time
    the server spent ready to run but not running (0 where schedstat is missing)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            total += int((task / "schedstat").read_text(encoding="ascii").split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e6


def _healthy(url: str) -> bool:
    import requests
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_ours(ours: Ours) -> Process:
    if not BOOKINGCAL.is_file():
        raise SystemExit(f"error: console script {BOOKINGCAL} is not installed")
    process = Process("bookingcal serve", [str(BOOKINGCAL), "--config", str(ours.config_path),
                                           "serve"], ours.env, ours.folder,
                      ours.folder / "serve.log")
    process.wait_ready(lambda: _healthy(ours.url))
    return process


def start_radicale(radicale: Radicale) -> Process:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = Process("radicale", [sys.executable, "-m", "radicale", "--config",
                                   str(radicale.config_path)], env, radicale.folder,
                      radicale.folder / "radicale.log")
    process.wait_ready(lambda: _listening(radicale.port))
    return process


# ------------------------------------------------------------------------ HTTP


@dataclass(frozen=True)
class Reply:
    status: int
    ms: float           # request sent .. last byte read (no client-side decompression)
    wire: int           # bytes received (compressed when gzip was used)
    body: bytes         # decoded
    headers: Mapping[str, str]  # case-insensitive (requests' CaseInsensitiveDict)

    @property
    def items(self) -> int:
        """VEVENTs of an iCalendar body; item hrefs (.ics) of a multistatus."""
        if self.body.lstrip().startswith(b"<"):
            return len(re.findall(rb"<(?:\w+:)?href>[^<]*\.ics</", self.body))
        return self.body.count(b"BEGIN:VEVENT")

    def sync_token(self) -> str:
        match = re.search(rb"<(?:\w+:)?sync-token>([^<]+)</", self.body)
        if match is None:
            raise RuntimeError(f"no sync-token in the answer: {self.body[:500]!r}")
        return match.group(1).decode()


class Client:
    def __init__(self, base: str, auth: tuple[str, str] | None = None) -> None:
        import requests

        self.base = base
        self.session = requests.Session()
        self.session.headers["Accept-Encoding"] = "gzip"
        if auth is not None:
            self.session.auth = auth

    def fetch(self, method: str, path: str, expect: int, headers: dict[str, str] | None = None,
              body: str | None = None, **kwargs: Any) -> Reply:
        data = body.encode("utf-8") if body is not None else None
        if data is not None:
            headers = {"Content-Type": "application/xml; charset=utf-8", **(headers or {})}
        began = time.perf_counter()
        response = self.session.request(method, self.base + path, headers=headers, data=data,
                                        stream=True, timeout=REQUEST_TIMEOUT, **kwargs)
        raw = response.raw.read(decode_content=False)
        elapsed = (time.perf_counter() - began) * 1000
        response.close()
        encoding = response.headers.get("Content-Encoding", "")
        decoded = raw
        if encoding == "gzip" and raw:
            decoded = gzip.decompress(raw)
        elif encoding == "deflate" and raw:
            decoded = zlib.decompress(raw)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {self.base}{path} answered {response.status_code}, "
                               f"expected {expect}: {decoded[:500]!r}")
        return Reply(response.status_code, elapsed, len(raw), decoded, response.headers)


def propfind_body(*props: str) -> str:
    inner = "".join(f"<D:{p}/>" for p in props)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:">'
            f"<D:prop>{inner}</D:prop></D:propfind>")


def week_query_body(week: tuple[dt.datetime, dt.datetime]) -> str:
    start, end = (t.strftime("%Y%m%dT%H%M%SZ") for t in week)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n'
            f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CALDAV_NS}">'
            "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{start}" end="{end}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")


def multiget_body(collection_path: str, uids: Sequence[str]) -> str:
    hrefs = "".join(f"<D:href>{collection_path}{uid}.ics</D:href>" for uid in uids)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n'
            f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{CALDAV_NS}">'
            f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>")


def sync_body(token: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<D:sync-collection xmlns:D="DAV:">'
            f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
            "<D:prop><D:getetag/></D:prop></D:sync-collection>")


# ------------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class Stat:
    ms: float
    runs: int
    status: int
    items: int
    body: int
    wire: int


def measure(run: Callable[[], Reply], runs: Runs) -> Stat:
    """Median of the replies' own times; every run must return the same number of items."""
    for _ in range(runs.warmup):
        run()
    samples: list[float] = []
    items: set[int] = set()
    last: Reply | None = None
    began = time.perf_counter()
    while len(samples) < runs.most and (len(samples) < runs.least
                                        or time.perf_counter() - began < runs.budget):
        last = run()
        samples.append(last.ms)
        items.add(last.items)
    assert last is not None
    if len(items) != 1:
        raise RuntimeError(f"runs returned different item counts: {sorted(items)}")
    return Stat(statistics.median(samples), len(samples), last.status, last.items,
                len(last.body), last.wire)


def once(reply: Reply) -> Stat:
    return Stat(reply.ms, 1, reply.status, reply.items, len(reply.body), reply.wire)


@dataclass
class Memory:
    """KiB. The per-request figures are the rise of the peak (VmHWM, reset through
    /proc/<pid>/clear_refs just before) over the RSS before that one request; None where the
    kernel does not allow the reset."""

    rss_start: int
    cold_feed: int | None = None
    warm_feed: int | None = None
    propfind: int | None = None
    hwm_feed: int = 0
    hwm_run: int = 0


OPS = ("feed_cold", "feed_warm", "conditional", "propfind", "week", "sync", "multiget")


@dataclass
class ServerResult:
    stats: dict[str, Stat]
    memory: Memory
    first_sync: FirstSync | None = None  # the issue-14 rows (section "first sync" below)


@dataclass
class Target:
    """What differs between the two servers; the operations are the same."""

    feed: Client        # GETs of the feed (ours: no credentials, the token is in the URL)
    dav: Client         # CalDAV requests
    feed_path: str
    collection_path: str
    change: Callable[[int], None]


def run_operations(target: Target, process: Process, gen: Generated, plan: Plan) -> ServerResult:
    cheap, costly = plan.cheap, plan.costly
    feed, client = target.feed, target.dav
    memory = Memory(process.status_kib("VmRSS"))
    stats: dict[str, Stat] = {}

    cold, memory.cold_feed = process.peak_of(lambda: feed.fetch("GET", target.feed_path, 200))
    stats["feed_cold"] = once(cold)
    stats["feed_warm"] = measure(lambda: feed.fetch("GET", target.feed_path, 200), costly)
    _, memory.warm_feed = process.peak_of(lambda: feed.fetch("GET", target.feed_path, 200))
    etag = feed.fetch("GET", target.feed_path, 200).headers.get("ETag", "")
    conditional_status = 304 if target.feed_path.startswith("/feeds/") else 200
    stats["conditional"] = measure(lambda: feed.fetch(
        "GET", target.feed_path, conditional_status, headers={"If-None-Match": etag}),
        costly if conditional_status == 200 else cheap)
    memory.hwm_feed = process.peak_kib()

    coll = target.collection_path
    listing = propfind_body("getetag", "getcontenttype")
    stats["propfind"] = measure(lambda: client.fetch(
        "PROPFIND", coll, 207, headers={"Depth": "1"}, body=listing), costly)
    _, memory.propfind = process.peak_of(lambda: client.fetch(
        "PROPFIND", coll, 207, headers={"Depth": "1"}, body=listing))
    week_body = week_query_body(gen.week)
    stats["week"] = measure(lambda: client.fetch("REPORT", coll, 207, headers={"Depth": "1"},
                                                 body=week_body), cheap)
    multiget = multiget_body(coll, gen.multiget_uids)
    stats["multiget"] = measure(lambda: client.fetch("REPORT", coll, 207,
                                                     headers={"Depth": "1"}, body=multiget),
                                cheap)

    token = client.fetch("PROPFIND", coll, 207, headers={"Depth": "0"},
                         body=propfind_body("sync-token")).sync_token()
    round_no = 0

    def sync_after_change() -> Reply:
        nonlocal token, round_no
        round_no += 1
        target.change(round_no)
        reply = client.fetch("REPORT", coll, 207, headers={"Depth": "1"}, body=sync_body(token))
        token = reply.sync_token()
        return reply

    stats["sync"] = measure(sync_after_change, costly)
    memory.hwm_run = process.peak_kib()
    return ServerResult(stats, memory)


def measure_ours(ours: Ours, gen: Generated, plan: Plan) -> ServerResult:
    from server.publishing.linkurls import principal_name
    from support import HOST_KEY

    process = start_ours(ours)
    try:
        api = Client(ours.url)
        api.session.headers["Authorization"] = f"Bearer {HOST_KEY}"
        booking_id = gen.changed_index + 1

        def change(round_no: int) -> None:
            api.fetch("PATCH", f"/api/v1/businesses/{ours.business_id}/bookings/{booking_id}",
                      200, json={"notes": f"benchmark change {round_no}"})

        target = Target(Client(ours.url), Client(ours.url, (principal_name(ours.link_id),
                                                            ours.token)),
                        f"/feeds/{ours.token}.ics", ours.collection_path, change)
        result = run_operations(target, process, gen, plan)
        result.first_sync = run_first_sync(target, process, gen, plan, ours.url,
                                           (principal_name(ours.link_id), ours.token),
                                           floor=lambda: floor_propfind(ours))
        if process.popen.poll() is not None:
            process.fail("exited during the run")
        return result
    finally:
        process.stop()


def measure_radicale(radicale: Radicale, gen: Generated, plan: Plan) -> ServerResult:
    uid = gen.events[gen.changed_index].uid
    original = radicale.originals[uid]
    path = radicale.collection_dir / f"{uid}.ics"

    def change(round_no: int) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(changed_document(original, round_no))

    process = start_radicale(radicale)
    try:
        client = Client(radicale.url, (RADICALE_USER, "x"))
        target = Target(client, client, radicale.collection_path, radicale.collection_path,
                        change)
        result = run_operations(target, process, gen, plan)
        result.first_sync = run_first_sync(target, process, gen, plan, radicale.url,
                                           (RADICALE_USER, "x"), floor=None)
        if process.popen.poll() is not None:
            process.fail("exited during the run")
        return result
    finally:
        process.stop()


# ------------------------------------------------------------------------ first sync (issue 14)
# A phone's first sync of a big calendar: PROPFIND Depth 1 with getetag only and an empty-token
# sync-collection, against the one-query floor measured in the same run; python-caldav's
# objects_by_sync_token followed by a calendar-multiget of every item (in pages the servers
# accept), with the share of it spent waiting for the server; one item's GET; and the peak RSS
# of the server process while four such answers are produced at once.

CALDAV_PAGE = 1000            # hrefs per calendar-multiget: Radicale allows 2000 VEVENTs each
CONCURRENT = 4
FIRST_SYNC_OPS = ("floor", "propfind_etag", "sync_empty", "get_one")


@dataclass
class FirstSync:
    stats: dict[str, Stat]
    caldav_ms: float = 0.0          # objects_by_sync_token + multiget of everything, client
    caldav_server_ms: float = 0.0   # the same, summed HTTP round trips
    caldav_items: int = 0
    concurrent_peak_kib: int | None = None
    # Server CPU per request (ms), over every run of `measure` (warm-ups included); the
    # floor's is the bench process's own CPU time. Load on a shared machine stretches wall
    # times; CPU time much less.
    cpu: dict[str, float] = field(default_factory=dict)
    # Per request (ms): how long the server's threads (the floor's: the bench's) were ready to
    # run but waiting for a CPU; wall time minus CPU minus this is I/O, locks and the client.
    runq: dict[str, float] = field(default_factory=dict)


def floor_propfind(ours: Ours) -> Reply:
    """The floor: one SQL query whose rows become the multistatus of a Depth-1 getetag
    PROPFIND as one string (hrefs, ETags computed as the server computes them), no HTTP."""
    from server.publishing.linkurls import DAV_PATH, principal_name
    from server.publishing.etags import etag_maker

    path = ours.folder / "data" / "bookingcal.sqlite3"
    began = time.perf_counter()
    with sqlite3.connect(path) as conn:
        epoch = conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
        prefix = f"{DAV_PATH}/{principal_name(ours.link_id)}/{ours.slug}/"
        rows = conn.execute("SELECT id, uid, seq FROM bookings WHERE calendar_id = ? AND "
                            "status = 'confirmed' ORDER BY start_utc, id", (ours.calendar_id,))
        etag = etag_maker(epoch, "booking", "full")  # the server's ETags, computed as cheaply
        body = "".join([
            '<?xml version="1.0" encoding="utf-8"?>\n<multistatus xmlns="DAV:">',
            *(f"<response><href>{prefix}{uid}.ics</href><propstat><prop><getetag>"
              f"{etag(item_id, seq)}</getetag></prop>"
              "<status>HTTP/1.1 200 OK</status></propstat></response>"
              for item_id, uid, seq in rows),
            "</multistatus>"]).encode()
    elapsed = (time.perf_counter() - began) * 1000
    return Reply(207, elapsed, len(body), body, {})


def _caldav_first_sync(base: str, collection_path: str, auth: tuple[str, str]
                       ) -> tuple[float, float, int]:
    """(client ms, server ms, items loaded): python-caldav's objects_by_sync_token, then a
    calendar-multiget of every object it listed, CALDAV_PAGE hrefs at a time."""
    import caldav

    client_class: Any = caldav.DAVClient  # the package's lazy exports type as object
    client = client_class(url=base + collection_path, username=auth[0], password=auth[1])
    waited = [0.0]
    request: Callable[..., Any] = client.session.request

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return request(*args, **kwargs)
        finally:
            waited[0] += time.perf_counter() - began

    client.session.request = timed  # type: ignore[method-assign]
    calendar = client.calendar(url=base + collection_path)
    began = time.perf_counter()
    listed = list(calendar.objects_by_sync_token(load_objects=False))
    loaded = 0
    for start in range(0, len(listed), CALDAV_PAGE):
        page = calendar.multiget([o.url for o in listed[start:start + CALDAV_PAGE]])
        loaded += sum(1 for o in page if o.data)
    total = time.perf_counter() - began
    client.close()
    if loaded != len(listed):
        raise RuntimeError(f"python-caldav loaded {loaded} of {len(listed)} objects")
    return total * 1000, waited[0] * 1000, loaded


def _concurrent_peak(target: Target, process: Process) -> int | None:
    """Peak RSS (KiB) of the server while CONCURRENT getetag PROPFINDs and empty-token syncs
    (alternately) run at once; None where VmHWM cannot be reset."""
    import threading

    coll = target.collection_path
    listing = propfind_body("getetag")
    errors: list[BaseException] = []

    def one(number: int) -> None:
        try:
            client = Client(target.dav.base, target.dav.session.auth)  # type: ignore[arg-type]
            if number % 2:
                client.fetch("REPORT", coll, 207, headers={"Depth": "1"}, body=sync_body(""))
            else:
                client.fetch("PROPFIND", coll, 207, headers={"Depth": "1"}, body=listing)
        except BaseException as exc:  # reported below
            errors.append(exc)

    process.peak_kib()
    try:
        Path(f"/proc/{process.pid}/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return None
    threads = [threading.Thread(target=one, args=(n,)) for n in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return process.status_kib("VmHWM")


def run_first_sync(target: Target, process: Process, gen: Generated, plan: Plan, base: str,
                   auth: tuple[str, str], floor: Callable[[], Reply] | None) -> FirstSync:
    costly, cheap = plan.costly, plan.cheap
    client, coll = target.dav, target.collection_path
    stats: dict[str, Stat] = {}
    cpu: dict[str, float] = {}
    runq: dict[str, float] = {}

    def timed(op: str, run: Callable[[], Reply], runs: Runs) -> None:
        before, waited = process.cpu_ms(), process.runq_ms()
        stats[op] = measure(run, runs)
        cpu[op] = (process.cpu_ms() - before) / (stats[op].runs + runs.warmup)
        runq[op] = (process.runq_ms() - waited) / (stats[op].runs + runs.warmup)

    if floor is not None:
        began, waited = time.process_time(), runq_ms("self")
        stats["floor"] = measure(floor, costly)
        cpu["floor"] = (time.process_time() - began) * 1000 / (stats["floor"].runs
                                                               + costly.warmup)
        runq["floor"] = (runq_ms("self") - waited) / (stats["floor"].runs + costly.warmup)
    listing = propfind_body("getetag")
    timed("propfind_etag", lambda: client.fetch(
        "PROPFIND", coll, 207, headers={"Depth": "1"}, body=listing), costly)
    timed("sync_empty", lambda: client.fetch(
        "REPORT", coll, 207, headers={"Depth": "1"}, body=sync_body("")), costly)
    item = f"{coll}{gen.events[gen.count // 2].uid}.ics"
    timed("get_one", lambda: client.fetch("GET", item, 200), cheap)
    result = FirstSync(stats, cpu=cpu, runq=runq)
    result.caldav_ms, result.caldav_server_ms, result.caldav_items = _caldav_first_sync(
        base, coll, auth)
    result.concurrent_peak_kib = _concurrent_peak(target, process)
    return result


GET_ROUNDS = 300


@dataclass(frozen=True)
class SideBySide:
    """GET of one item, both servers running, requests alternating: medians of wall time and
    each server process's CPU per request over all rounds."""

    rounds: int
    ours_ms: float
    radicale_ms: float
    ours_cpu: float
    radicale_cpu: float


def measure_get_side_by_side(ours: Ours, radicale: Radicale, gen: Generated) -> SideBySide:
    from server.publishing.linkurls import principal_name

    uid = gen.events[gen.count // 2].uid
    mine = start_ours(ours)
    theirs = start_radicale(radicale)
    try:
        ours_client = Client(ours.url, (principal_name(ours.link_id), ours.token))
        rad_client = Client(radicale.url, (RADICALE_USER, "x"))
        ours_item = f"{ours.collection_path}{uid}.ics"
        rad_item = f"{radicale.collection_path}{uid}.ics"
        for _ in range(20):  # warm-up: the first use is recorded, the text rendered once
            ours_client.fetch("GET", ours_item, 200)
            rad_client.fetch("GET", rad_item, 200)
        ours_ms, rad_ms = [], []
        ours_cpu, rad_cpu = 0.0, 0.0
        for _ in range(GET_ROUNDS):
            before = mine.cpu_ms()
            ours_ms.append(ours_client.fetch("GET", ours_item, 200).ms)
            ours_cpu += mine.cpu_ms() - before
            before = theirs.cpu_ms()
            rad_ms.append(rad_client.fetch("GET", rad_item, 200).ms)
            rad_cpu += theirs.cpu_ms() - before
        return SideBySide(GET_ROUNDS, statistics.median(ours_ms), statistics.median(rad_ms),
                          ours_cpu / GET_ROUNDS, rad_cpu / GET_ROUNDS)
    finally:
        mine.stop()
        theirs.stop()


def print_side_by_side(number: int, figures: dict[int, SideBySide]) -> None:
    if not figures:
        return
    print(f"[{number}] GET of one item, both servers running, {GET_ROUNDS} requests each "
          "alternating (ours, Radicale, ours, ...): median wall time and server CPU per "
          "request")
    rows = [[label(size), fmt_time(f.ours_ms), fmt_time(f.radicale_ms),
             fmt_ratio(f.ours_ms / f.radicale_ms), fmt_time(f.ours_cpu),
             fmt_time(f.radicale_cpu),
             fmt_ratio(f.ours_cpu / f.radicale_cpu) if f.radicale_cpu else "-"]
            for size, f in sorted(figures.items())]
    print(table(["size", "ours", "Radicale", "ours/Radicale", "CPU ours", "CPU Radicale",
                 "CPU ours/Radicale"], rows))
    print()


FIRST_SYNC_TITLES = {
    "floor": "one-query floor (SQLite, the getetag multistatus built as one string, no HTTP)",
    "propfind_etag": "PROPFIND Depth 1, getetag only",
    "sync_empty": "sync-collection with an empty token (a phone's first sync), getetag",
    "get_one": "GET of one item",
}


def print_first_sync(number: int, results: dict[tuple[str, int], ServerResult],
                     plan: Plan) -> None:
    print(f"[{number}] A phone's first sync (issue 14): times and the ratio to the one-query "
          "floor of the same size, this run")
    rows = []
    for size in plan.sizes:
        ours = results.get(("ours", size))
        rad = results.get(("radicale", size))
        o = ours.first_sync if ours else None
        r = rad.first_sync if rad else None
        floor = o.stats.get("floor") if o else None
        floor_cpu = o.cpu.get("floor") if o else None
        floor_runq = o.runq.get("floor") if o else None
        for op in FIRST_SYNC_OPS[1:]:
            os_, rs = (o.stats[op] if o else None), (r.stats[op] if r else None)
            oc, rc = (o.cpu.get(op) if o else None), (r.cpu.get(op) if r else None)
            oq = o.runq.get(op) if o else None
            rows.append([label(size), FIRST_SYNC_TITLES[op],
                         fmt_time(os_.ms) if os_ else "-", fmt_time(rs.ms) if rs else "-",
                         fmt_time(floor.ms) if floor else "-",
                         fmt_ratio(os_.ms / floor.ms) if os_ and floor else "-",
                         fmt_time(oc) if oc is not None else "-",
                         fmt_time(rc) if rc is not None else "-",
                         fmt_time(floor_cpu) if floor_cpu else "-",
                         fmt_ratio(oc / floor_cpu) if oc is not None and floor_cpu else "-",
                         fmt_time(oq) if oq is not None else "-",
                         fmt_time(floor_runq) if floor_runq is not None else "-",
                         str(os_.items) if os_ else "-", str(rs.items) if rs else "-"])
    print(table(["size", "request", "ours", "Radicale", "floor", "ours/floor", "CPU ours",
                 "CPU Rad.", "CPU floor", "CPU ours/floor", "run-queue ours",
                 "run-queue floor", "items ours", "items Rad."], rows))
    print("  (CPU: the server process's user+system time per request over all runs; the "
          "floor's is the bench process's own. Run-queue: time its threads were ready to run "
          "but waited for a CPU (/proc/<pid>/task/*/schedstat), per request: on a loaded "
          "machine most of the wall time beyond CPU)")
    print()
    print(f"[{number + 1}] python-caldav objects_by_sync_token, then calendar-multiget of "
          f"everything ({CALDAV_PAGE} hrefs a page): client total, time spent in HTTP round "
          "trips (the server's share), and the peak RSS of the server process during "
          f"{CONCURRENT} concurrent whole-calendar answers (getetag PROPFIND and empty-token "
          "sync alternately)")
    rows = []
    for size in plan.sizes:
        for server in ("ours", "radicale"):
            result = results.get((server, size))
            if result is None or result.first_sync is None:
                continue
            f = result.first_sync
            peak = "n/a" if f.concurrent_peak_kib is None else \
                f"{f.concurrent_peak_kib / 1024:.1f} MiB"
            rows.append([label(size), "bookingcal" if server == "ours" else "Radicale",
                         fmt_time(f.caldav_ms), fmt_time(f.caldav_server_ms),
                         f"{100 * f.caldav_server_ms / f.caldav_ms:.0f}%", str(f.caldav_items),
                         peak])
    print(table(["size", "server", "python-caldav total", "in HTTP", "server share",
                 "items", f"peak RSS, {CONCURRENT} concurrent"], rows))
    print()


def judge_first_sync(results: dict[tuple[str, int], ServerResult], plan: Plan,
                     side_by_side: dict[int, SideBySide] | None = None) -> list[Verdict]:
    verdicts: list[Verdict] = []
    largest = max(plan.ours)
    # The sizes: the floor ratio is judged at 10k and beyond (at 1k both are a few
    # milliseconds and the fixed cost of a request decides the ratio).
    for size in [s for s in plan.ours if s >= 10_000] or [largest]:
        f = results[("ours", size)].first_sync
        assert f is not None
        floor = f.stats["floor"].ms
        for op, what in (("propfind_etag", "PROPFIND Depth 1 getetag"),
                         ("sync_empty", "empty-token sync-collection")):
            ms = f.stats[op].ms
            verdicts.append(Verdict(ms <= 5 * floor, f"at {label(size)}: {what} within 5x of "
                                    f"the one-query floor: {fmt_ratio(ms / floor)} "
                                    f"({fmt_time(ms)} vs {fmt_time(floor)})"))
            if size >= 100_000:
                verdicts.append(Verdict(ms <= 1000, f"at {label(size)}: {what} <= 1 s: "
                                        f"{fmt_time(ms)}"))
    f = results[("ours", largest)].first_sync
    assert f is not None
    peak = f.concurrent_peak_kib
    verdicts.append(Verdict(None if peak is None else peak <= 400 * 1024, (
        f"at {label(largest)}: peak RSS with {CONCURRENT} concurrent whole-calendar answers "
        f"<= 400 MiB: " + ("n/a" if peak is None else f"{peak / 1024:.1f} MiB"))))
    common = [s for s in plan.ours if s in plan.radicale]
    small = min(common) if common else None
    if small is None:
        verdicts.append(Verdict(None, "GET of one item / multiget of 50 vs Radicale: not "
                                "measured (no size served by both)"))
        return verdicts
    ours, rad = results[("ours", small)], results[("radicale", small)]
    assert ours.first_sync is not None and rad.first_sync is not None
    pairs = [("GET of one item", ours.first_sync.stats["get_one"],
              rad.first_sync.stats["get_one"]),
             (f"multiget of {MULTIGET_HREFS}", ours.stats["multiget"], rad.stats["multiget"])]
    side = (side_by_side or {}).get(small)
    if side is not None:
        # Both servers running and alternating: the load of a shared machine hits both alike.
        pairs = pairs[1:]
        verdicts.append(Verdict(side.ours_ms <= 1.1 * side.radicale_ms, (
            f"at {label(small)}: GET of one item no slower than Radicale (alternating): "
            f"{fmt_time(side.ours_ms)} vs {fmt_time(side.radicale_ms)}; server CPU "
            f"{fmt_time(side.ours_cpu)} vs {fmt_time(side.radicale_cpu)} per request")))
    for what, o, r in pairs:
        # "No slower": within the noise of a shared machine (10%).
        verdicts.append(Verdict(o.ms <= 1.1 * r.ms, f"at {label(small)}: {what} no slower "
                                f"than Radicale: {fmt_time(o.ms)} vs {fmt_time(r.ms)}"))
    return verdicts


# ------------------------------------------------------------------------ printing


def fmt_time(ms: float) -> str:
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"


def fmt_size(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    if count < 1_000_000:
        return f"{count / 1000:.1f} kB"
    return f"{count / 1_000_000:.2f} MB"


def fmt_bytes(stat: Stat) -> str:
    if stat.wire == stat.body:
        return fmt_size(stat.body)
    return f"{fmt_size(stat.body)} (gz {fmt_size(stat.wire)})"


def fmt_ratio(value: float) -> str:
    return f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


TITLES = {
    "feed_cold": "Feed GET, cold: the first request after the server started (ours renders "
                 "every item once and stores the text; Radicale parses every file and fills "
                 "its item cache); one run",
    "feed_warm": "Feed GET, warm (ours: GET /feeds/<token>.ics; Radicale: GET of the "
                 "collection URL, the whole calendar)",
    "conditional": "Conditional GET with If-None-Match: <the ETag just returned> (ours answers "
                   "304; Radicale has no conditional GET and answers 200 with the calendar)",
    "propfind": "PROPFIND Depth: 1 on the calendar (getetag, getcontenttype)",
    "week": "calendar-query REPORT for one week (time-range {week}; getetag + calendar-data)",
    "sync": "sync-collection REPORT after one change (ours: PATCH of the booking's notes "
            "through the API; Radicale: its file rewritten; getetag; token of the previous "
            "round; the change itself is not timed)",
    "multiget": f"calendar-multiget REPORT of {MULTIGET_HREFS} hrefs spread over the calendar "
                "(getetag + calendar-data)",
}


def print_operation(number: int, op: str, results: dict[tuple[str, int], ServerResult],
                    plan: Plan, week: str) -> None:
    print(f"[{number}] {TITLES[op].format(week=week)}")
    rows = []
    for size in plan.sizes:
        ours = results.get(("ours", size))
        rad = results.get(("radicale", size))
        o = ours.stats[op] if ours else None
        r = rad.stats[op] if rad else None
        rows.append([
            label(size),
            fmt_time(o.ms) if o else "-",
            fmt_time(r.ms) if r else "-",
            fmt_ratio(r.ms / o.ms) if o and r else "-",
            str(o.items) if o else "-", str(r.items) if r else "-",
            f"{o.status}" if o else "-", f"{r.status}" if r else "-",
            fmt_bytes(o) if o else "-", fmt_bytes(r) if r else "-",
            f"{o.runs if o else '-'}/{r.runs if r else '-'}"])
        if o and r and o.items != r.items and op != "conditional":
            rows[-1].append("WARNING: item counts differ")
    headers = ["size", "ours", "Radicale", "Radicale/ours", "items ours", "items Radicale",
               "status ours", "status Rad.", "bytes ours", "bytes Radicale", "runs o/R"]
    if any(len(row) > len(headers) for row in rows):
        headers.append("")
        rows = [row + [""] * (len(headers) - len(row)) for row in rows]
    print(table(headers, rows))
    print()


def print_memory(number: int, results: dict[tuple[str, int], ServerResult], plan: Plan) -> None:
    print(f"[{number}] Memory of each server process (/proc/<pid>/status): RSS after start; "
          "for one request, how far the peak (VmHWM, reset just before) rose above the RSS "
          "before it; the peak after the feed requests [1]-[3] and after the whole run")
    rows = []

    def rise(value: int | None) -> str:
        return "n/a" if value is None else f"+{value / 1024:.1f} MiB"

    for size in plan.sizes:
        for server in ("ours", "radicale"):
            result = results.get((server, size))
            if result is None:
                continue
            m = result.memory
            feed = result.stats["feed_warm"]
            rows.append([label(size), "bookingcal" if server == "ours" else "Radicale",
                         f"{m.rss_start / 1024:.1f} MiB", rise(m.cold_feed), rise(m.warm_feed),
                         rise(m.propfind), f"{m.hwm_feed / 1024:.1f} MiB",
                         f"{m.hwm_run / 1024:.1f} MiB", fmt_size(feed.body)])
    print(table(["size", "server", "RSS after start", "cold feed GET", "warm feed GET",
                 "PROPFIND Depth 1", "peak after feed", "peak after run", "feed body (decoded)"],
                rows))
    print("  (the peaks after the feed and the run also grow with the number of worker threads "
          "that served a large answer: each keeps its own malloc arena and SQLite connection)")
    print()


@dataclass(frozen=True)
class Verdict:
    ok: bool | None  # None: not measured
    line: str


def judge(results: dict[tuple[str, int], ServerResult], plan: Plan) -> list[Verdict]:
    verdicts: list[Verdict] = []
    common = [s for s in plan.ours if s in plan.radicale]
    ref = 10_000 if 10_000 in common else (max(common) if common else None)

    def vs_radicale(op: str, their_op: str, factor: float, what: str) -> None:
        if ref is None:
            verdicts.append(Verdict(None, f"{what}: not measured (no size served by both)"))
            return
        ours = results[("ours", ref)].stats[op].ms
        theirs = results[("radicale", ref)].stats[their_op].ms
        ratio = theirs / ours
        verdicts.append(Verdict(ratio >= factor, f"at {label(ref)}: {what} >= {factor:g}x "
                                f"faster than Radicale: {fmt_ratio(ratio)} "
                                f"({fmt_time(ours)} vs {fmt_time(theirs)})"))

    vs_radicale("feed_warm", "feed_warm", 10, "our warm feed vs Radicale's collection GET,")
    vs_radicale("conditional", "feed_warm", 300, "our 304 vs Radicale's collection GET,")
    vs_radicale("week", "week", 50, "our one-week calendar-query,")
    vs_radicale("sync", "sync", 50, "our sync-collection after one change,")

    small, large = min(plan.ours), max(plan.ours)
    for op, what in (("week", "one-week calendar-query"),
                     ("sync", "sync-collection after one change")):
        a = results[("ours", small)].stats[op].ms
        b = results[("ours", large)].stats[op].ms
        verdicts.append(Verdict(b <= 1.5 * a, f"ours at {label(large)} <= 1.5x ours at "
                                f"{label(small)}, {what}: {b / a:.2f}x "
                                f"({fmt_time(b)} vs {fmt_time(a)})"))

    low, high = results[("ours", small)].memory, results[("ours", large)].memory
    body = results[("ours", large)].stats["feed_warm"].body
    what = f"serving the {label(large)} feed does not hold it in memory"
    if None in (low.cold_feed, low.warm_feed, high.cold_feed, high.warm_feed):
        grew = (high.hwm_feed - low.hwm_feed) * 1024
        verdicts.append(Verdict(grew < body / 2, (
            f"{what}: peak after the feed requests {low.hwm_feed / 1024:.1f} MiB at "
            f"{label(small)}, {high.hwm_feed / 1024:.1f} MiB at {label(large)} "
            f"(+{grew / 2**20:.1f} MiB), less than half the feed's {fmt_size(body)}")))
        return verdicts
    # What one feed GET needs beyond the RSS before it, minus the same at the small size (the
    # first request's one-time costs: imports, compiled statements, caches) must stay well
    # below the feed itself: a server that held the feed would need all of it.
    cold = ((high.cold_feed or 0) - (low.cold_feed or 0)) * 1024
    warm = ((high.warm_feed or 0) - (low.warm_feed or 0)) * 1024
    verdicts.append(Verdict(max(cold, warm) < body / 2, (
        f"{what}: one feed GET raised the peak RSS by cold +{(high.cold_feed or 0) / 1024:.1f} /"
        f" warm +{(high.warm_feed or 0) / 1024:.1f} MiB at {label(large)}, cold "
        f"+{(low.cold_feed or 0) / 1024:.1f} / warm +{(low.warm_feed or 0) / 1024:.1f} MiB at "
        f"{label(small)}; growth {max(cold, warm) / 2**20:.1f} MiB (must stay below half the "
        f"{label(large)} feed's {fmt_size(body)}; process peak after the feed requests: "
        f"{low.hwm_feed / 1024:.1f} MiB at {label(small)}, {high.hwm_feed / 1024:.1f} MiB at "
        f"{label(large)})")))
    return verdicts


# ------------------------------------------------------------------------ feed floors (issue 14)
# The feed's own rows: 304 and warm feeds against floor servers (bench/feed_floors.py) measured
# interleaved in the same run, on SQLite and PostgreSQL, and with 1 vs 2,000 businesses.

FLOORS = Path(__file__).resolve().parent / "feed_floors.py"
TENANTS = 2000
QUICK_TENANTS = 100  # --quick: enough to run the row, small enough for the smoke test


@dataclass
class FeedFigures:
    engine: str
    size: int
    tenants: int
    first_get: float          # the first feed GET after the server started (identity)
    first_cold: bool          # nothing of the feed was rendered before that GET
    ours_304: float
    bare_304: float
    flask_304: float
    ours_identity: float
    query_identity: float
    ours_gzip: float
    compress_once: float
    identical: bool           # the query floor's body is byte for byte ours
    gzip_bytes: int
    identity_bytes: int


def start_floor(folder: Path, kind: str, *args: str) -> tuple[Process, int]:
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = Process(f"{kind} floor", [sys.executable, str(FLOORS), "serve", kind, str(port),
                                        *args], env, folder, folder / f"floor-{kind}.log")
    process.wait_ready(lambda: _listening(port))
    return process, port


def measure_feed_floors(ours: Ours, gen: Generated, plan: Plan, engine: str,
                        tenants: int = 1) -> FeedFigures:
    """Ours (a fresh `bookingcal serve`) and the floors, interleaved."""
    import requests

    from feed_floors import Probe, compress_once_ms, interleaved, timed_get

    cold = stored_texts(ours.env["BOOKINGCAL_DATABASE_URL"]) == 0
    process = start_ours(ours)
    floors: list[Process] = []
    try:
        url = f"{ours.url}/feeds/{ours.token}.ics"
        plain, gz = {"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip"}
        session = requests.Session()
        began = time.perf_counter()
        first = session.get(url, headers=plain, timeout=REQUEST_TIMEOUT)
        first_ms = (time.perf_counter() - began) * 1000
        body = first.content
        etag = session.get(url, headers=gz, timeout=REQUEST_TIMEOUT).headers["ETag"]
        start_at = body.index(b"BEGIN:VEVENT")
        end_at = body.rindex(b"END:VEVENT\r\n") + len(b"END:VEVENT\r\n")
        (ours.folder / "head.ics").write_bytes(body[:start_at])
        (ours.folder / "tail.ics").write_bytes(body[end_at:])
        window = [t.astimezone(dt.timezone.utc).replace(tzinfo=None) for t in gen.window]
        # Every generated booking lies inside the window (EDGE_MARGIN), so no span test.
        bounds = [t.isoformat(sep=" ", timespec="microseconds") for t in window]
        for kind, args in (("bare", ()), ("flask", ()),
                           ("query", (ours.env["BOOKINGCAL_DATABASE_URL"], str(ours.calendar_id),
                                      *bounds, str(ours.folder / "head.ics"),
                                      str(ours.folder / "tail.ics")))):
            floor, port = start_floor(ours.folder, kind, *args)
            floors.append(floor)
            if kind == "bare":
                bare_url = f"http://127.0.0.1:{port}/feeds/x.ics"
            elif kind == "flask":
                flask_url = f"http://127.0.0.1:{port}/feeds/x.ics"
            else:
                query_url = f"http://127.0.0.1:{port}/feeds/x.ics"
        floor_body = requests.get(query_url, timeout=REQUEST_TIMEOUT).content
        clients = [requests.Session() for _ in range(5)]
        cond = {"Accept-Encoding": "gzip", "If-None-Match": etag}
        cheap_rounds, cheap_each = (3, 10) if plan.quick else (20, 15)
        costly_rounds, costly_each = (2, 2) if plan.quick else (4, 3)
        c304 = interleaved([
            Probe("ours", lambda: timed_get(clients[0], url, 304, cond)),
            Probe("bare", lambda: timed_get(clients[1], bare_url, 304, cond)),
            Probe("flask", lambda: timed_get(clients[2], flask_url, 304, cond)),
        ], cheap_rounds, cheap_each)
        warm = interleaved([
            Probe("identity", lambda: timed_get(clients[0], url, 200, plain)),
            Probe("query", lambda: timed_get(clients[3], query_url, 200, plain)),
            Probe("gzip", lambda: timed_get(clients[4], url, 200, gz)),
        ], costly_rounds, costly_each, warmup=1)
        gz_reply = clients[4].get(url, headers=gz, stream=True, timeout=REQUEST_TIMEOUT)
        gz_bytes = len(gz_reply.raw.read(decode_content=False))
        if process.popen.poll() is not None:
            process.fail("exited during the run")
        return FeedFigures(engine, gen.count, tenants, first_ms, cold, c304["ours"], c304["bare"],
                           c304["flask"], warm["identity"], warm["query"], warm["gzip"],
                           compress_once_ms(body), floor_body == body, gz_bytes, len(body))
    finally:
        for floor in floors:
            floor.stop()
        process.stop()


def stored_texts(url: str) -> int:
    """How many rendered texts the database keeps (0: a feed's first GET renders it all)."""
    from sqlalchemy import create_engine, func, select

    from server.db.models import RenderedItem

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(RenderedItem)).scalar_one())
    finally:
        engine.dispose()


def add_tenants(url: str, count: int, bookings_each: int = 10) -> None:
    """`count` more businesses, each with a calendar, a service, an 'all' link and a few
    bookings (rows as the domain writes them; tokens never used)."""
    import hashlib

    from sqlalchemy import create_engine, insert, select

    from server.db.models import Booking, Business, Calendar, Link, Service

    engine = create_engine(url)
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        first = conn.execute(select(Business.id).order_by(Business.id.desc())).scalar() or 0
        conn.execute(insert(Business), [{"name": f"Tenant {n}", "timezone": TZID,
                                         "created_at": now} for n in range(count)])
        ids = list(conn.execute(select(Business.id).where(Business.id > first)
                                .order_by(Business.id)).scalars())
        conn.execute(insert(Calendar), [{
            "business_id": b, "uid": str(uuid.uuid4()), "name": "Staff", "slug": "staff",
            "timezone": TZID, "colour": "#3a87ad", "active": True, "journal_seq": bookings_each,
            "journal_floor": 0, "max_span_seconds": 3600, "created_at": now, "updated_at": now,
            "changed_at": now} for b in ids])
        calendars = dict(conn.execute(select(Calendar.business_id, Calendar.id)
                                      .where(Calendar.business_id.in_(ids))).all())
        conn.execute(insert(Service), [{"business_id": b, "name": "Haircut",
                                        "duration_minutes": 60, "created_at": now,
                                        "updated_at": now} for b in ids])
        services = dict(conn.execute(select(Service.business_id, Service.id)
                                     .where(Service.business_id.in_(ids))).all())
        conn.execute(insert(Link), [{
            "business_id": b, "scope": "all", "profile": "full", "label": "",
            "token_hash": hashlib.sha256(f"tenant-{b}".encode()).hexdigest(),
            "token_encrypted": "unused", "created_at": now, "updated_at": now} for b in ids])
        rows = []
        for b in ids:
            for n in range(bookings_each):
                start = floor_minute(now) + dt.timedelta(days=1 + n, hours=b % 8)
                end = start + dt.timedelta(hours=1)
                rows.append({"business_id": b, "calendar_id": calendars[b], "client_id": None,
                             "service_id": services[b], "uid": str(uuid.uuid4()),
                             "status": "confirmed", "source": "staff", "start_utc": start,
                             "end_utc": end, "occupied_start_utc": start,
                             "occupied_end_utc": end, "tzid": TZID,
                             "start_local": start.replace(tzinfo=None),
                             "end_local": end.replace(tzinfo=None), "location": None,
                             "notes": None, "revision": 0, "seq": n + 1, "created_at": now,
                             "updated_at": now})
        for part in _chunks(rows):
            conn.execute(insert(Booking), part)
    engine.dispose()


def feed_section_rows(figures: list[FeedFigures]) -> None:
    print("[F1] Feed conditional GET (304), ours vs the floors (a bare WSGI app and a Flask "
          "route answering 304 under waitress, each in its own process), interleaved")
    print(table(["engine", "size", "businesses", "ours", "bare WSGI", "Flask", "ours/Flask",
                 "ours/bare"],
                [[f.engine, label(f.size), str(f.tenants), fmt_time(f.ours_304),
                  fmt_time(f.bare_304), fmt_time(f.flask_304),
                  f"{f.ours_304 / f.flask_304:.2f}x", f"{f.ours_304 / f.bare_304:.2f}x"]
                 for f in figures]))
    print()
    print("[F2] Warm feed GET without content coding vs the one-query floor (one SQL query "
          "builds the events' text as one string; same head and tail); first GET after start")
    print(table(["engine", "size", "businesses", "ours", "one-query floor", "ours/floor",
                 "same bytes", "body", "first GET after start"],
                [[f.engine, label(f.size), str(f.tenants), fmt_time(f.ours_identity),
                  fmt_time(f.query_identity), f"{f.ours_identity / f.query_identity:.2f}x",
                  "yes" if f.identical else "NO", fmt_size(f.identity_bytes),
                  fmt_time(f.first_get) + (" (cold)" if f.first_cold else " (texts stored)")]
                 for f in figures]))
    print()
    print("[F3] Warm feed GET with gzip vs the same body compressed once (zlib level 6, in the "
          "bench process)")
    print(table(["engine", "size", "businesses", "ours (gzip)", "compress once",
                 "compress/ours", "gzip bytes"],
                [[f.engine, label(f.size), str(f.tenants), fmt_time(f.ours_gzip),
                  fmt_time(f.compress_once), fmt_ratio(f.compress_once / f.ours_gzip),
                  fmt_size(f.gzip_bytes)] for f in figures]))
    print()


def judge_feed(figures: list[FeedFigures], results: dict[tuple[str, int], ServerResult]
               ) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for f in figures:
        if f.tenants != 1:
            continue
        limit = 1.5 if f.engine == "SQLite" else 2.0
        ratio = f.ours_304 / f.flask_304
        verdicts.append(Verdict(ratio <= limit, (
            f"{f.engine} {label(f.size)}: our 304 within {limit:g}x of the Flask floor: "
            f"{ratio:.2f}x ({fmt_time(f.ours_304)} vs {fmt_time(f.flask_304)}; bare WSGI "
            f"{fmt_time(f.bare_304)})")))
        ratio = f.ours_identity / f.query_identity
        verdicts.append(Verdict(ratio <= 2.0 and f.identical, (
            f"{f.engine} {label(f.size)}: warm identity feed within 2x of the one-query floor: "
            f"{ratio:.2f}x ({fmt_time(f.ours_identity)} vs {fmt_time(f.query_identity)}"
            f"{'' if f.identical else '; the floor body DIFFERS'})")))
    for f in figures:
        rad = results.get(("radicale", f.size))
        if f.engine == "SQLite" and f.tenants == 1 and rad is not None and f.size == 10_000:
            theirs = rad.stats["feed_warm"].ms
            verdicts.append(Verdict(theirs / f.ours_gzip >= 50, (
                f"at {label(f.size)}: warm gzip feed >= 50x faster than Radicale's collection "
                f"GET: {fmt_ratio(theirs / f.ours_gzip)} ({fmt_time(f.ours_gzip)} vs "
                f"{fmt_time(theirs)})")))
    cold = results.get(("ours", 10_000))
    if cold is not None:
        ms = cold.stats["feed_cold"].ms
        verdicts.append(Verdict(ms <= 2000, f"at 10k: cold feed (first render) <= 2 s: "
                                            f"{fmt_time(ms)}"))
    for f in figures:
        if f.engine == "PostgreSQL" and f.size == 10_000 and f.first_cold:
            verdicts.append(Verdict(f.first_get <= 2000, (
                f"PostgreSQL {label(f.size)}, {f.tenants} business(es): cold feed (the first GET "
                f"after start, nothing rendered yet) <= 2 s: {fmt_time(f.first_get)}")))
    for f in figures:
        if f.tenants == 1:
            continue
        base = next((g for g in figures if g.engine == f.engine and g.size == f.size
                     and g.tenants == 1), None)
        if base is None:
            continue
        r304, rgz = f.ours_304 / base.ours_304, f.ours_gzip / base.ours_gzip
        flask = f.flask_304 / base.flask_304
        verdicts.append(Verdict(r304 <= 1.5 * max(1.0, flask) and rgz <= 1.5, (
            f"{f.engine} {label(f.size)}: {f.tenants} businesses vs 1: 304 {r304:.2f}x (the "
            f"Flask floor moved {flask:.2f}x meanwhile), warm gzip {rgz:.2f}x (flat: <= 1.5x)")))
    return verdicts


def feed_on_postgresql(plan: Plan, now: dt.datetime, days_back: int, days_ahead: int
                       ) -> list[FeedFigures]:
    """The feed rows on a throwaway PostgreSQL 15 (tests/pgserver.py), with 1 and 2,000
    businesses."""
    from pgserver import ThrowawayPostgres

    figures: list[FeedFigures] = []
    with ThrowawayPostgres() as pg:
        for size in plan.pg:
            gen = generate(size, now, days_back, days_ahead)
            name = f"bench{size}"
            pg.create_database(name)
            with tempfile.TemporaryDirectory(prefix=f"bookingcal-feed-pg-{size}-") as tmp:
                folder = Path(tmp)
                ours = load_ours(folder, gen, pg.url(name))
                print(f"    PostgreSQL {label(size)}: loaded in {ours.load_seconds:.1f} s")
                figures.append(measure_feed_floors(ours, gen, plan, "PostgreSQL"))
                add_tenants(pg.url(name), plan.tenants - 1)
                figures.append(measure_feed_floors(ours, gen, plan, "PostgreSQL",
                                                   plan.tenants))
                sys.stdout.flush()
            pg.drop_database(name)
    return figures


# ------------------------------------------------------------------------ driver


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas: {text!r}")
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size")
    return sizes


def parse_args(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=None,
                        help="bookings per calendar served by ours (default 1000,10000,100000)")
    parser.add_argument("--radicale-sizes", type=parse_sizes, default=None,
                        help="bookings per calendar served by Radicale (default 1000,10000; "
                             "it takes minutes beyond)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: ours 200 and 1000, Radicale 200, few runs")
    parser.add_argument("--pg-sizes", default=None,
                        help="bookings per calendar for the feed rows on PostgreSQL (default "
                             "10000; 200 with --quick; 'none' skips PostgreSQL)")
    args = parser.parse_args(argv)
    if args.pg_sizes == "none":
        pg: tuple[int, ...] = ()
    elif args.pg_sizes:
        pg = parse_sizes(args.pg_sizes)
    else:
        pg = (200,) if args.quick else (10_000,)
    default_ours, default_radicale = ((200, 1000), (200,)) if args.quick else \
        ((1000, 10_000, 100_000), (1000, 10_000))
    cheap, costly = QUICK_RUNS if args.quick else FULL_RUNS
    return Plan(args.sizes or default_ours, args.radicale_sizes or default_radicale,
                args.quick, cheap, costly, pg)


def versions() -> str:
    import radicale

    from server import __version__

    return (f"bookingcal {__version__}, Radicale {radicale.VERSION}, Python "
            f"{sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_args(argv)
    from server.config import OPTIONS

    days_back = next(o.default for o in OPTIONS if o.key == "feeds.window_days_back")
    days_ahead = next(o.default for o in OPTIONS if o.key == "feeds.window_days_ahead")
    now = dt.datetime.now(dt.timezone.utc)

    began = time.perf_counter()
    print("=== CalDAV and feed benchmark: bookingcal (SQLite, `bookingcal serve`) vs stock "
          "Radicale (multifilesystem) ===")
    print(versions())
    print(NOISE)
    cheap, costly = plan.cheap, plan.costly
    runs_note = (f"times are medians of {cheap.least}-{cheap.most} runs (304, week query, "
                 f"multiget) or {costly.least}-{costly.most} runs (whole-calendar answers, "
                 "syncs) after warm-up (column 'runs o/R'), request sent to last byte read")
    print(f"sizes: ours {', '.join(label(s) for s in plan.ours)}; Radicale "
          f"{', '.join(label(s) for s in plan.radicale)}; one server process at a time; "
          f"{runs_note}")
    print(f"machine load at the start (1/5/15 min): "
          f"{' / '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    results: dict[tuple[str, int], ServerResult] = {}
    week_text = ""
    feed_figures: list[FeedFigures] = []
    side_by_side: dict[int, SideBySide] = {}
    tenant_size = 10_000 if 10_000 in plan.ours else min(plan.ours)
    for size in plan.sizes:
        gen = generate(size, now, days_back, days_ahead)
        week_text = (f"{gen.week[0]:%a %Y-%m-%d} .. {gen.week[1]:%a %Y-%m-%d} UTC, "
                     f"{WEEK_ITEMS} bookings at every size")
        changed = gen.events[gen.changed_index]
        keep = {changed.uid}
        with tempfile.TemporaryDirectory(prefix=f"bookingcal-caldav-{size}-") as tmp:
            folder = Path(tmp)
            (folder / "ours").mkdir()
            ours = load_ours(folder / "ours", gen)
            state = check_loaded(ours, gen)
            print()
            print(f"--- {label(size)} bookings: window {gen.window[0]:%Y-%m-%d} .. "
                  f"{gen.window[1]:%Y-%m-%d} UTC; {WEEK_ITEMS} in the benchmark week at "
                  f"{BOOKING_MINUTES} min, the other {size - WEEK_ITEMS} evenly spaced at "
                  f"{gen.other_minutes} min; a client each")
            print(f"    ours loaded in {ours.load_seconds:.1f} s ({state})")
            radicale = None
            if size in plan.radicale:
                (folder / "radicale").mkdir()
                radicale = load_radicale(folder / "radicale", ours, gen, keep)
                print(f"    Radicale: {size} .ics files written in "
                      f"{radicale.load_seconds:.1f} s (the text our CalDAV serves per item)")
            if size in plan.ours:
                t0 = time.perf_counter()
                results[("ours", size)] = measure_ours(ours, gen, plan)
                print(f"    ours measured in {time.perf_counter() - t0:.1f} s")
            if radicale is not None:
                t0 = time.perf_counter()
                results[("radicale", size)] = measure_radicale(radicale, gen, plan)
                print(f"    Radicale measured in {time.perf_counter() - t0:.1f} s")
                if size in plan.ours:
                    side_by_side[size] = measure_get_side_by_side(ours, radicale, gen)
            if size in plan.ours:
                t0 = time.perf_counter()
                feed_figures.append(measure_feed_floors(ours, gen, plan, "SQLite"))
                if size == tenant_size:
                    add_tenants(ours.env["BOOKINGCAL_DATABASE_URL"], plan.tenants - 1)
                    feed_figures.append(measure_feed_floors(ours, gen, plan, "SQLite",
                                                            plan.tenants))
                print(f"    feed floors measured in {time.perf_counter() - t0:.1f} s")
            sys.stdout.flush()
            shutil.rmtree(folder, ignore_errors=True)

    if plan.pg:
        t0 = time.perf_counter()
        feed_figures += feed_on_postgresql(plan, now, days_back, days_ahead)
        print(f"    PostgreSQL feed rows measured in {time.perf_counter() - t0:.1f} s")
    print()
    print(NOISE)
    print()
    for number, op in enumerate(OPS, start=1):
        print_operation(number, op, results, plan, week_text)
    print_memory(len(OPS) + 1, results, plan)
    print_first_sync(len(OPS) + 2, results, plan)
    print_side_by_side(len(OPS) + 4, side_by_side)
    feed_section_rows(feed_figures)
    verdicts = (judge(results, plan) + judge_first_sync(results, plan, side_by_side)
                + judge_feed(feed_figures, results))
    print("Targets:")
    for verdict in verdicts:
        state = "n/a" if verdict.ok is None else ("MET" if verdict.ok else "NOT MET")
        print(f"  [{state}] {verdict.line}")
    if plan.quick:
        print("  (--quick: sizes far too small for the targets to mean anything)")
    print(f"machine load at the end (1/5/15 min): "
          f"{' / '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"total benchmark time {time.perf_counter() - began:.1f} s")
    missed = [v for v in verdicts if v.ok is False]
    return 1 if missed and not plan.quick else 0


if __name__ == "__main__":
    sys.exit(main())
