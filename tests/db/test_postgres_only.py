"""PostgreSQL-only behaviour: the exclusion constraint behind the overlap check, the server
going away (before and during a request) and coming back, and lock waits that end in 503."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from pgserver import ThrowawayPostgres
from server.db.models import Booking
from server.domain.bookings import create_booking
from server.domain.businesses import create_business
from server.domain.calendars import create_calendar
from server.domain.services import create_service
from server.errors import ConflictError
from tests.support import (
    NOW, Api, LiveServer, Salon, assert_error, make_runtime, make_salon, start_server,
)

pytestmark = pytest.mark.postgres

TZ = "Europe/Copenhagen"
RANGE = {"start": "2026-11-26T00:00:00Z", "end": "2026-11-27T00:00:00Z"}
# What a 503 body must never show: engine internals, SQL, the driver, a traceback.
LEAKS = ("traceback", 'file "', "psycopg", "sqlalchemy", "operationalerror", "select ",
         "insert into", "update calendars", "for update", "postgresql+psycopg")

INSERT_BOOKING = text(
    "INSERT INTO bookings (business_id, calendar_id, client_id, service_id, uid, status, source,"
    " start_utc, end_utc, occupied_start_utc, occupied_end_utc, tzid, start_local, end_local,"
    " location, notes, revision, seq, created_at, updated_at)"
    " VALUES (:business_id, :calendar_id, NULL, :service_id, :uid, :status, 'staff',"
    " :start, :end, :start, :end, 'UTC', :start, :end, NULL, NULL, 0, 0, :now, :now)")


def utc(hour: int, minute: int = 0) -> dt.datetime:
    """A naive UTC instant on 2026-11-26, as stored in the bookings table."""
    return dt.datetime(2026, 11, 26, hour, minute)


def raw_booking(ids: dict[str, int], calendar: str, status: str, start: dt.datetime,
                end: dt.datetime) -> dict[str, Any]:
    return {"business_id": ids["business"], "calendar_id": ids[calendar],
            "service_id": ids["service"], "uid": str(uuid.uuid4()), "status": status,
            "start": start, "end": end, "now": NOW.replace(tzinfo=None)}


def booking_body(salon: Salon, start: str) -> dict[str, Any]:
    return {"calendar_id": salon.calendar, "service_id": salon.service, "start": start}


def assert_unavailable(response: requests.Response) -> None:
    assert_error(response, 503, "unavailable")
    assert response.headers.get("Retry-After") == "2"
    lowered = response.text.lower()
    assert not [leak for leak in LEAKS if leak in lowered], response.text


def stop(server: LiveServer, api: Api) -> None:
    api.session.close()
    server.stop()


def make_durable(postgres_server: ThrowawayPostgres) -> None:
    """Flush everything committed so far to disk. The test cluster runs with
    synchronous_commit = off and stop_server() stops it in immediate mode, so without this the
    last fraction of a second of commits would be lost across the restart."""
    with psycopg.connect(postgres_server.conninfo(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def wait_for_lock_waiter(conninfo: str, timeout: float = 30.0) -> None:
    """Return once some backend of this database waits for a lock. Each query runs in its own
    transaction (autocommit), so pg_stat_activity is read afresh every time."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                               "'Lock' AND datname = current_database()").fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    raise AssertionError(f"no backend waited for a lock within {timeout:.0f}s")


# -------------------------------------------------------------------------------------- tests


def test_exclusion_constraint_refuses_raw_overlapping_insert(tmp_path: Path,
                                                             pg_url: str) -> None:
    runtime = make_runtime(tmp_path, pg_url)
    engine = create_engine(pg_url)
    try:
        with runtime.db.write() as session:
            business = create_business(session, name="Salon", timezone=TZ, now=NOW)
            anna = create_calendar(session, business.id, name="Anna", now=NOW)
            ben = create_calendar(session, business.id, name="Ben", now=NOW)
            service = create_service(session, business.id, name="Haircut",
                                     duration_minutes=45, buffer_after_minutes=15, now=NOW)
            # 10:00-10:45 local is 09:00-09:45 UTC; occupied until 10:00 UTC (the buffer).
            booked = create_booking(session, business.id, calendar_id=anna.id,
                                    service_id=service.id, now=NOW,
                                    start=dt.datetime(2026, 11, 26, 10, 0))
            ids = {"business": business.id, "anna": anna.id, "ben": ben.id,
                   "service": service.id}
        assert (booked.occupied_start_utc, booked.occupied_end_utc) == (
            utc(9).replace(tzinfo=dt.timezone.utc), utc(10).replace(tzinfo=dt.timezone.utc))

        # Overlapping only the buffer of the confirmed booking: refused by the engine.
        with pytest.raises(IntegrityError) as refused:
            with engine.begin() as conn:
                conn.execute(INSERT_BOOKING, raw_booking(ids, "anna", "confirmed",
                                                         utc(9, 50), utc(10, 35)))
        assert refused.value.orig is not None
        assert refused.value.orig.sqlstate == "23P01"
        assert isinstance(refused.value.orig, psycopg.errors.ExclusionViolation)
        assert refused.value.orig.diag.constraint_name == "bookings_no_overlap"

        # The constraint is precise: a cancelled overlap, the same time on another calendar
        # and a booking starting exactly where the occupied interval ends are all accepted.
        with engine.begin() as conn:
            conn.execute(INSERT_BOOKING, raw_booking(ids, "anna", "cancelled", utc(9), utc(9, 45)))
            conn.execute(INSERT_BOOKING, raw_booking(ids, "ben", "confirmed", utc(9), utc(9, 45)))
            conn.execute(INSERT_BOOKING, raw_booking(ids, "anna", "confirmed",
                                                     utc(10), utc(10, 45)))

        # Database.write() turns the engine's refusal into our ConflictError (409).
        with pytest.raises(ConflictError) as conflict:
            with runtime.db.write() as session:
                session.execute(INSERT_BOOKING, raw_booking(ids, "anna", "confirmed",
                                                            utc(8, 30), utc(9, 15)))
        assert "database constraint" in conflict.value.message
        cause = conflict.value.__cause__
        assert isinstance(cause, IntegrityError) and cause.orig is not None
        assert cause.orig.sqlstate == "23P01"

        with runtime.db.read() as session:
            rows = session.execute(select(Booking.calendar_id, Booking.status, Booking.start_utc)
                                   .order_by(Booking.id)).all()
        starts = [(cal, status, start.replace(tzinfo=None)) for cal, status, start in rows]
        assert starts == [(ids["anna"], "confirmed", utc(9)),
                          (ids["anna"], "cancelled", utc(9)),
                          (ids["ben"], "confirmed", utc(9)),
                          (ids["anna"], "confirmed", utc(10))]
    finally:
        engine.dispose()
        runtime.db.dispose()


def test_postgres_stopped_gives_503_then_recovers(tmp_path: Path, pg_url: str,
                                                  postgres_server: ThrowawayPostgres) -> None:
    server = start_server(make_runtime(tmp_path, pg_url))
    api = Api(server.url)
    try:
        salon = make_salon(api, tz=TZ)
        bookings = f"/businesses/{salon.business}/bookings"
        api.ok("POST", bookings, 201, json=booking_body(salon, "2026-11-26T10:00:00+01:00"))
        assert len(api.ok("GET", bookings, params=RANGE)["items"]) == 1
        assert api.get(f"{server.url}/healthz").status_code == 200

        make_durable(postgres_server)
        postgres_server.stop_server()
        try:
            assert_unavailable(api.get(bookings, params=RANGE))
            assert_unavailable(api.post(bookings,
                                        json=booking_body(salon, "2026-11-26T11:00:00+01:00")))
            assert_unavailable(api.get(f"{server.url}/healthz"))
        finally:
            postgres_server.start_server()

        # The same server (same engine and pool) works again: pool_pre_ping replaces the dead
        # connections, so the very first requests succeed.
        assert api.get(f"{server.url}/healthz").status_code == 200
        api.ok("POST", bookings, 201, json=booking_body(salon, "2026-11-26T11:00:00+01:00"))
        listed = api.ok("GET", bookings, params=RANGE)["items"]
        assert [b["start"] for b in listed] == ["2026-11-26T10:00:00+01:00",
                                                "2026-11-26T11:00:00+01:00"]
    finally:
        if not postgres_server.is_running:
            postgres_server.start_server()
        stop(server, api)


def test_postgres_stopped_while_request_waits_gives_503(
        tmp_path: Path, pg_url: str, postgres_server: ThrowawayPostgres) -> None:
    """A booking request waiting for the calendar's row lock when PostgreSQL goes away."""
    server = start_server(make_runtime(tmp_path, pg_url,
                                       extra="[database]\nlock_timeout_seconds = 60\n"))
    api = Api(server.url)
    engine = create_engine(pg_url)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    holder = engine.connect()
    try:
        salon = make_salon(api, tz=TZ)
        bookings = f"/businesses/{salon.business}/bookings"
        body = booking_body(salon, "2026-11-26T10:00:00+01:00")
        holder.begin()
        holder.execute(text("SELECT id FROM calendars WHERE id = :id FOR UPDATE"),
                       {"id": salon.calendar})
        waiting = pool.submit(api.post, bookings, json=body)
        wait_for_lock_waiter(postgres_server.conninfo(pg_url.rsplit("/", 1)[1]))
        assert not waiting.done()

        make_durable(postgres_server)
        postgres_server.stop_server()
        try:
            assert_unavailable(waiting.result(timeout=30))
        finally:
            postgres_server.start_server()

        booked = api.ok("POST", bookings, 201, json=body)
        assert booked["sequence"] == 2  # the interrupted attempt left nothing behind
    finally:
        if not postgres_server.is_running:
            postgres_server.start_server()
        holder.invalidate()  # close without a rollback: its server may have gone away
        pool.shutdown(wait=True)
        engine.dispose()
        stop(server, api)


def test_calendar_row_lock_held_elsewhere_gives_503_then_201(tmp_path: Path,
                                                             pg_url: str) -> None:
    server = start_server(make_runtime(tmp_path, pg_url,
                                       extra="[database]\nlock_timeout_seconds = 0.5\n"))
    api = Api(server.url)
    engine = create_engine(pg_url)
    try:
        salon = make_salon(api, tz=TZ)
        bookings = f"/businesses/{salon.business}/bookings"
        body = booking_body(salon, "2026-11-26T10:00:00+01:00")
        with engine.connect() as holder:
            holder.begin()
            locked = holder.execute(text("SELECT id FROM calendars WHERE id = :id FOR UPDATE"),
                                    {"id": salon.calendar}).scalar_one()
            assert locked == salon.calendar

            began = time.monotonic()
            refused = api.post(bookings, json=body)
            waited = time.monotonic() - began
            assert_error(refused, 503, "busy")
            assert refused.headers.get("Retry-After") == "2"
            assert 0.4 <= waited < 5, waited  # the configured 0.5 s, not the 10 s default

            holder.rollback()  # release the lock

        booked = api.ok("POST", bookings, 201, json=body)
        assert booked["sequence"] == 2  # calendar creation, then this booking: no leftovers
        assert len(api.ok("GET", bookings, params=RANGE)["items"]) == 1
    finally:
        engine.dispose()
        stop(server, api)


def test_an_unexpected_database_error_is_a_500_with_an_incident_id_only(
        tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A genuine server fault (here: a table dropped under the running server) answers 500 in
    the documented shape, naming an incident that the log holds, and nothing of the cause."""
    live = start_server(make_runtime(tmp_path, pg_url))
    api = Api(live.url)
    try:
        salon = make_salon(api)
        engine = create_engine(pg_url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE services CASCADE"))
        engine.dispose()
        response = api.get(f"/businesses/{salon.business}/services")
        body = assert_error(response, 500, "internal", "incident")
        incident = body["details"]["incident"]
        for leak in ("services", "psycopg", "sqlalchemy", "SELECT", "Traceback", "relation"):
            assert leak.lower() not in response.text.lower(), leak
        assert any(incident in record.getMessage() for record in caplog.records)
    finally:
        stop(live, api)
