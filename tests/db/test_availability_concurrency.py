"""100 online booking attempts from several processes for overlapping slots, while a busy Google
event arrives mid-way through the bridge's pull from the fake Google: no two bookings overlap,
and no attempt that began after the event was imported overlaps it. SQLite and PostgreSQL.

Workers are spawned processes (own interpreter, engine and connections) released together by a
barrier. The first half of each worker's attempts races for 10:00-12:20; once the main process
has imported the Google event (12:00-13:00) the second half races for 11:30-14:20."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
import time
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from fakes import FakeGoogle
from server.config import AvailabilityConfig
from server.db import Database
from server.db.models import Booking
from server.domain import businesses, calendars, hours, services
from server.domain.bookings import create_booking
from server.errors import ConflictError
from server.google import oauth, settings
from server.google.api import GoogleCalendarApi
from server.google.pull import pull
from tests.support import NOW, google_toml, make_runtime

WORKERS = 4
TOTAL = 100
TZ = "Europe/Copenhagen"
DAY = dt.date(2026, 12, 1)
MINUTES = 30
EVENT = (dt.time(12), dt.time(13))
GENEROUS = "[database]\nbusy_timeout_seconds = 30\nlock_timeout_seconds = 30\n"
RUN_TIMEOUT = 180.0


def local(hour: int, minute: int) -> str:
    return dt.datetime.combine(DAY, dt.time(hour, minute)).isoformat()


def phase_starts(first: tuple[int, int], count: int, distinct: int) -> list[str]:
    """`count` naive local start times cycling through `distinct` times 10 minutes apart."""
    base = dt.datetime.combine(DAY, dt.time(*first))
    return [(base + dt.timedelta(minutes=10 * (i % distinct))).isoformat() for i in range(count)]


def worker(index: int, url: str, business: int, calendar: int, service: int,
           before: list[str], after: list[str], progress: Any, arrived: Any, barrier: Any,
           results: Any) -> None:
    """Book online once per start; report (index, [(outcome, start, detail, began_after)])."""
    try:
        db = Database(url, busy_timeout=30.0, lock_timeout=30.0, pool_size=1)
        outcomes: list[tuple[str, str, Any, bool]] = []
        try:
            with db.read() as session:
                session.execute(text("SELECT 1"))
            barrier.wait(timeout=120)
            for phase, starts in (("before", before), ("after", after)):
                if phase == "after":
                    assert arrived.wait(timeout=120), "the Google event never arrived"
                for start in starts:
                    began_after = arrived.is_set()
                    try:
                        with db.write() as session:
                            booking = create_booking(
                                session, business, calendar_id=calendar, service_id=service,
                                start=dt.datetime.fromisoformat(start), now=NOW,
                                source="online",
                                # the configuration these tests load sets no [availability]
                                rules=AvailabilityConfig())
                            outcomes.append(("ok", start, booking.id, began_after))
                    except ConflictError as exc:
                        kinds = [r["type"] for r in exc.details.get("reasons", [])] or \
                            [c["type"] for c in exc.details.get("conflicts", [])]
                        outcomes.append(("conflict", start, kinds, began_after))
                    except Exception as exc:  # noqa: BLE001 - reported as a failure
                        outcomes.append((repr(exc), start, None, began_after))
                    with progress.get_lock():
                        progress.value += 1
        finally:
            db.dispose()
        results.put((index, outcomes))
    except BaseException:  # noqa: BLE001 - the test must hear about it instead of waiting
        results.put((index, "crashed: " + traceback.format_exc()))


def test_online_bookings_race_a_google_event(tmp_path: Path, database_url: str) -> None:
    with FakeGoogle() as fake:
        secret = tmp_path / "google-secret"
        secret.write_text(fake.client_secret, encoding="utf-8")
        runtime = make_runtime(tmp_path, database_url,
                               extra=GENEROUS + google_toml(fake, secret))
        tokens = fake.issue_tokens()
        with runtime.db.write() as session:
            business = businesses.create_business(session, name="Salon", timezone=TZ,
                                                  now=NOW).id
            calendar = calendars.create_calendar(session, business, name="Anna", now=NOW).id
            service = services.create_service(session, business, name="Cut",
                                              duration_minutes=MINUTES, now=NOW).id
            hours.set_weekly(session, business, calendar, [
                hours.Interval(day, dt.time(8), dt.time(18)) for day in range(7)])
            connection = oauth.connect(session, runtime.keyring, business, tokens, NOW).id
            settings.update_settings(session, business, now=NOW, block_online_booking=True,
                                     calendars=[settings.CalendarChoice(calendar, "primary")])
        api = GoogleCalendarApi(runtime.config.google, tokens["refresh_token"],
                                sleep=lambda seconds: None)
        pull(runtime.db, api, connection, NOW, rules=runtime.config.availability)

        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(WORKERS), context.Queue()
        progress, arrived = context.Value("i", 0), context.Event()
        share = TOTAL // WORKERS  # 25 each: 13 before the event, 12 after
        processes = [context.Process(target=worker, daemon=True, args=(
            i, database_url, business, calendar, service,
            phase_starts((10, 10 * (i % 3)), share - share // 2, 12),
            phase_starts((11, 30 + 10 * (i % 2)), share // 2, 15),
            progress, arrived, barrier, results)) for i in range(WORKERS)]
        reports: dict[int, Any] = {}
        deadline = time.monotonic() + RUN_TIMEOUT
        try:
            for process in processes:
                process.start()
            while progress.value < TOTAL // 4 and time.monotonic() < deadline:
                time.sleep(0.005)
            fake.user_insert_event("primary", {
                "summary": "Dentist",
                "start": {"dateTime": dt.datetime.combine(DAY, EVENT[0]).isoformat(),
                          "timeZone": TZ},
                "end": {"dateTime": dt.datetime.combine(DAY, EVENT[1]).isoformat(),
                        "timeZone": TZ}})
            assert pull(runtime.db, api, connection, NOW,
                        rules=runtime.config.availability).imported == 1
            arrived.set()
            while len(reports) < WORKERS:
                try:
                    index, report = results.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    raise AssertionError("workers did not report in time") from None
                reports[index] = report
            for process in processes:
                process.join(timeout=30)
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=10)
            results.close()
        crashed = [r for r in reports.values() if isinstance(r, str)]
        assert not crashed, "\n".join(crashed)
        outcomes = [o for i in range(WORKERS) for o in reports[i]]
        assert len(outcomes) == TOTAL
        assert {o[0] for o in outcomes} <= {"ok", "conflict"}, outcomes

        with runtime.db.read() as session:
            rows = session.execute(select(Booking).where(Booking.status == "confirmed")
                                   .order_by(Booking.occupied_start_utc)).scalars().all()
        assert sorted(b.id for b in rows) == sorted(o[2] for o in outcomes if o[0] == "ok")
        for first, second in zip(rows, rows[1:]):
            assert first.occupied_end_utc <= second.occupied_start_utc, (first.id, second.id)
        zone_event = [dt.datetime.combine(DAY, t).replace(
            tzinfo=dt.timezone(dt.timedelta(hours=1))) for t in EVENT]
        by_id = {b.id: b for b in rows}
        for kind, start, booking_id, began_after in outcomes:
            if kind == "ok" and began_after:
                booking = by_id[booking_id]
                assert booking.end_utc <= zone_event[0] or booking.start_utc >= zone_event[1], \
                    start
        refused_by_google = [o for o in outcomes if o[0] == "conflict" and o[3]
                             and "google_event" in o[2]]
        assert refused_by_google, outcomes
        runtime.db.dispose()
        assert fake.internal_errors == []
