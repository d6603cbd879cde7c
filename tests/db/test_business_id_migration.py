"""Migration 0027 (business_id on every table of a business) on SQLite and PostgreSQL: rows
written before it get their business from their parent (a connection, a link, an admin user,
a delivery, a rendered item's booking, a full read's read state), orphans of the tables without
a foreign key go, and the keys include business_id. Two businesses with the same rows: a
backfill that took the wrong parent would move counts from one to the other."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from server.db.migrate import downgrade, upgrade
from server.db.models import (
    AccountAlarm, AdminSession, AdminUser, CalDAVConnection, GoogleConnection, IcsReadState,
    IcsSource, MicrosoftConnection, RenderedItem, SyncFullRead, WebhookAttempt, WebhookDelivery,
)
from server.domain import bookings, links
from server.domain.businesses import create_business
from server.domain.calendars import create_calendar
from server.domain.services import create_service
from server.sync.tables import CALDAV, GOOGLE, MICROSOFT, Tables
from support import NOW, make_runtime

MIGRATED = ["link_calendars", "account_alarms", "rendered_items", "admin_sessions",
            "webhook_attempts", "sync_full_reads", "ics_read_states"] + [
    f"{provider}_{kind}" for provider in ("google", "microsoft", "caldav")
    for kind in ("calendar_maps", "read_states", "copies", "write_errors")]


def _connection(tables: Tables, business: int) -> Any:
    common: dict[str, Any] = {"business_id": business, "created_at": NOW, "updated_at": NOW}
    if tables is CALDAV:
        return CalDAVConnection(server_url="https://dav.example",
                                home_url="https://dav.example/h/", username="anna",
                                password_encrypted="x", **common)
    model = GoogleConnection if tables is GOOGLE else MicrosoftConnection
    return model(refresh_token_encrypted="x", **common)


def _business_rows(session: Session, keyring: Any, name: str) -> int:
    """One row in each migrated table (two in the copies), all of business `name`."""
    business = create_business(session, name=name, timezone="UTC", now=NOW).id
    calendar = create_calendar(session, business, name="Anna", now=NOW).id
    service = create_service(session, business, name="Cut", duration_minutes=30, now=NOW).id
    booking = bookings.create_booking(session, business, calendar_id=calendar, service_id=service,
                                      start=NOW + dt.timedelta(days=1), now=NOW).id
    link, _ = links.create_link(session, keyring, business, scope="calendar", profile="full",
                                calendar_ids=[calendar], now=NOW, writable=True)
    session.add(AccountAlarm(business_id=business, link_id=link.id, booking_id=booking,
                             text="BEGIN:VALARM\r\nEND:VALARM\r\n"))
    session.add(RenderedItem(business_id=business, kind="booking", item_id=booking,
                             profile="full", seq=1, version=1, text="x"))
    user = AdminUser(business_id=business, email=f"{name}@example.com", password_hash="x",
                     created_at=NOW)
    session.add(user)
    delivery = WebhookDelivery(business_id=business, event="booking.created", body="{}",
                               created_at=NOW, next_attempt_at=NOW)
    session.add(delivery)
    source = IcsSource(business_id=business, calendar_id=calendar, url_encrypted="x",
                       host="ics.example", created_at=NOW, updated_at=NOW)
    session.add(source)
    session.flush()
    session.add(AdminSession(business_id=business, user_id=user.id, token_hash=f"h-{name}",
                             created_at=NOW, expires_at=NOW + dt.timedelta(hours=1)))
    session.add(WebhookAttempt(business_id=business, delivery_id=delivery.id, attempt=1, at=NOW))
    session.add(IcsReadState(business_id=business, connection_id=source.id,
                             google_calendar="feed"))
    for tables in (GOOGLE, MICROSOFT, CALDAV):
        connection = _connection(tables, business)
        session.add(connection)
        session.flush()
        ids = {"business_id": business, "connection_id": connection.id}
        session.add(tables.calendar_map(calendar_id=calendar, write_calendar="w",
                                        read_calendar="r", **ids))
        state = tables.read_state(google_calendar="r", **ids)
        session.add(state)
        for n in (1, 2):
            session.add(tables.copy(kind="booking", item_id=booking + 1000 * n,
                                    calendar_id=calendar, google_calendar="w",
                                    event_id=f"e{n}", **ids))
        session.add(tables.write_error(kind="booking", item_id=booking, calendar_id=calendar,
                                       error="refused", first_failed_at=NOW,
                                       last_failed_at=NOW, retry_at=NOW, **ids))
        session.flush()
        session.add(SyncFullRead(business_id=business,
                                 read_table=str(tables.read_state.__tablename__),
                                 read_state_id=state.id, full_read_at=NOW))
    return business


def _owners(engine: Any, table: str) -> dict[int, int]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            f"SELECT business_id, count(*) FROM {table} GROUP BY business_id").all()
    return {int(business): int(count) for business, count in rows}


def test_rows_before_0027_get_their_parents_business(tmp_path: Path, database_url: str) -> None:
    runtime = make_runtime(tmp_path, database_url)
    db = runtime.db
    with db.write() as session:
        first = _business_rows(session, runtime.keyring, "north")
        second = _business_rows(session, runtime.keyring, "south")
    engine = db.engine
    expected = {table: _owners(engine, table) for table in MIGRATED}
    for table, owners in expected.items():
        assert set(owners) == {first, second}, table
    downgrade(engine, "0026")
    assert all("business_id" not in {c["name"] for c in inspect(engine).get_columns(table)}
               for table in MIGRATED)
    with engine.begin() as connection:  # an orphan of a table without a foreign key
        connection.exec_driver_sql(
            "INSERT INTO rendered_items (kind, item_id, profile, seq, version, text) "
            "VALUES ('booking', 999999, 'full', 1, 1, 'gone')")
    upgrade(engine)
    for table in MIGRATED:
        assert _owners(engine, table) == expected[table], table
    inspector = inspect(engine)
    assert inspector.get_pk_constraint("rendered_items")["constrained_columns"] == [
        "kind", "item_id", "profile", "business_id"]
    assert "business_id" in inspector.get_pk_constraint("account_alarms")["constrained_columns"]
    for table in ("google_copies", "caldav_calendar_maps", "mirrored_events", "journal"):
        for unique in inspector.get_unique_constraints(table):
            assert unique["column_names"][-1] == "business_id", (table, unique)
    with db.write() as session:  # the writers still work on the migrated schema
        _business_rows(session, runtime.keyring, "west")
    runtime.db.dispose()
