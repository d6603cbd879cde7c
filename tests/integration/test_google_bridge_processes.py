"""Two bridge processes on one PostgreSQL database share the work through connection leases:
both do work, every event is inserted once, and Google never answers 409."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from fakes import FakeGoogle
from server.domain import bookings, businesses, calendars, services
from server.google import oauth, settings
from support import NOW, google_toml, make_runtime

BUSINESSES = 6
BOOKINGS_EACH = 8
WORKERS = 2
RUN_TIMEOUT = 120.0


def bridge_worker(index: int, folder: str, url: str, extra: str, barrier: Any,
                  results: Any) -> None:
    """Module-level, so the spawn start method can import it: one bridge process."""
    try:
        from server.gcal_bridge import Bridge
        from server.google.api import GoogleCalendarApi

        runtime = make_runtime(Path(folder), url, extra=extra)

        def factory(rt: Any, token: str) -> GoogleCalendarApi:
            return GoogleCalendarApi(rt.config.google, token, sleep=lambda seconds: None)

        worker = Bridge(runtime, worker=f"worker-{index}", api_factory=factory,
                        unthrottled=True)
        barrier.wait(timeout=60)
        inserted = 0
        for _ in range(20):
            reports = worker.run_once(force_pull=True)
            inserted += sum(r.pushed.inserted for r in reports if r.pushed is not None)
        results.put((index, inserted))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put((index, "crashed: " + traceback.format_exc()))


def test_two_bridge_processes_never_double_write(tmp_path: Path, pg_url: str) -> None:
    with FakeGoogle() as fake:
        secret = tmp_path / "google-secret"
        secret.write_text(fake.client_secret, encoding="utf-8")
        extra = google_toml(fake, secret)
        runtime = make_runtime(tmp_path, pg_url, extra=extra)
        with runtime.db.write() as session:
            for n in range(BUSINESSES):
                user = f"owner{n}@example.com"
                fake.add_user(user)
                business = businesses.create_business(session, name=f"Salon {n}",
                                                      timezone="Europe/Copenhagen", now=NOW).id
                calendar = calendars.create_calendar(session, business, name="Anna", now=NOW).id
                service = services.create_service(session, business, name="Cut",
                                                  duration_minutes=30, now=NOW).id
                oauth.connect(session, runtime.keyring, business, fake.issue_tokens(user=user),
                              NOW)
                settings.update_settings(session, business, now=NOW, calendars=[
                    settings.CalendarChoice(calendar, "primary")])
                for day in range(BOOKINGS_EACH):
                    bookings.create_booking(session, business, calendar_id=calendar,
                                            service_id=service, now=NOW,
                                            start=dt.datetime(2026, 12, 1 + day, 10))
        runtime.db.dispose()

        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(WORKERS), context.Queue()
        processes = [context.Process(target=bridge_worker, daemon=True,
                                     args=(i, str(tmp_path), pg_url, extra, barrier, results))
                     for i in range(WORKERS)]
        reports: dict[int, Any] = {}
        deadline = time.monotonic() + RUN_TIMEOUT
        try:
            for process in processes:
                process.start()
            while len(reports) < WORKERS:
                try:
                    index, report = results.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    raise AssertionError("bridge workers did not report in time") from None
                reports[index] = report
        finally:
            for process in processes:
                process.join(timeout=10)
                if process.is_alive():
                    process.terminate()
        crashed = [r for r in reports.values() if isinstance(r, str)]
        assert not crashed, "\n".join(crashed)

        inserts = fake.requests("calendar.events.insert")
        ids = Counter(str(entry.body.get("id")) for entry in inserts
                      if isinstance(entry.body, dict))
        assert sum(reports.values()) == BUSINESSES * BOOKINGS_EACH
        assert all(count == 1 for count in ids.values()), ids.most_common(3)
        assert len(ids) == BUSINESSES * BOOKINGS_EACH
        assert not [entry for entry in fake.requests() if entry.status == 409]
        assert all(inserted > 0 for inserted in reports.values()), reports
        assert fake.internal_errors == []
