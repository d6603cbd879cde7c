"""The schema shards by business (docs/scaling.md, "Sharding by business"): every table of a
business carries `business_id` (NOT NULL, a foreign key to businesses, indexed), and every
unique constraint or primary key includes it, since a distributed PostgreSQL (Citus) enforces
uniqueness only within a shard. What does not is listed here with its reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import PrimaryKeyConstraint, Table, UniqueConstraint, delete, event, select

from server.admin import accounts, sessions
from server.db import Database, key_directory
from server.db.models import AdminSession, Base, Calendar, KeyDirectoryEntry
from server.domain import links
from server.domain.businesses import (
    business_for_key, create_api_key, create_business, delete_business, revoke_api_key,
)
from server.domain.calendars import create_calendar
from server.errors import ConflictError
from server.google import oauth as google_oauth
from server.ops.rekey import reencrypt
from server.publishing import dav_context
from server.publishing.davfast.quickget import QuickGet
from server.publishing.feedstate import FeedStates
from support import NOW, make_runtime

# Tables that are not a business's: replicated to every node (a reference table) or kept on the
# coordinator.
NOT_DISTRIBUTED = {
    "businesses": "the distribution key itself (its id)",
    "meta": "installation-wide values (database epoch, key versions): a reference table",
    "sync_jobs": "installation-wide bridge jobs (the health notifier's lease), of no business: "
                 "a reference table",
    "key_directory": "which business owns a key looked up before the business is known "
                     "(server/db/key_directory.py): a reference table, read on any node",
}

# Keys looked up before the business is known (link tokens, API keys, admin e-mails and sessions,
# OAuth states) are unique in the installation by the key directory (a reference table) and
# unique with business_id in their tables: none is listed here, so a new unscoped unique key
# fails. Keep it empty; a key that must be unique alone goes through the directory too.
GLOBAL_UNIQUES: dict[tuple[str, tuple[str, ...]], str] = {}
# Reference tables that carry a business id without being a business's rows.
REFERENCES_A_BUSINESS = {"key_directory"}


def _tables() -> list[Table]:
    return [table for table in Base.metadata.sorted_tables
            if table.name not in NOT_DISTRIBUTED]


def _keys(table: Table) -> list[tuple[str, ...]]:
    """Every set of columns the table keeps unique: its primary key, unique constraints,
    unique columns and unique indexes."""
    keys = [tuple(c.name for c in table.primary_key.columns)]
    keys += [tuple(c.name for c in constraint.columns) for constraint in table.constraints
             if isinstance(constraint, UniqueConstraint)
             and not isinstance(constraint, PrimaryKeyConstraint)]
    keys += [(column.name,) for column in table.columns if column.unique]
    keys += [tuple(c.name for c in index.columns) for index in table.indexes if index.unique]
    return keys


def test_every_table_of_a_business_carries_business_id() -> None:
    missing, nullable, no_foreign_key, no_index = [], [], [], []
    for table in _tables():
        column = table.columns.get("business_id")
        if column is None:
            missing.append(table.name)
            continue
        if column.nullable:
            nullable.append(table.name)
        if not any(fk.column.table.name == "businesses" for fk in column.foreign_keys):
            no_foreign_key.append(table.name)
        # Deleting a business cascades: each table is found by an index led by business_id.
        led = [index.columns[0].name for index in table.indexes] + [
            constraint.columns[0].name for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint) and constraint.columns]
        if "business_id" not in led and not column.unique:
            no_index.append(table.name)
    assert missing == [], f"tables without business_id (add it, or list why): {missing}"
    assert nullable == [], f"business_id may be NULL in: {nullable}"
    assert no_foreign_key == [], f"business_id is no foreign key to businesses in: {no_foreign_key}"
    assert no_index == [], f"no index led by business_id in: {no_index}"


def test_every_unique_key_of_a_distributed_table_includes_business_id() -> None:
    wrong = []
    for table in _tables():
        for key in _keys(table):
            if "business_id" in key or (table.name, key) in GLOBAL_UNIQUES:
                continue
            # A surrogate id from a sequence is unique by itself; on a distributed cluster the
            # primary key becomes (id, business_id) when the table is distributed.
            if key == ("id",) and table.primary_key.columns.keys() == ["id"]:
                continue
            wrong.append(f"{table.name}{key}")
    assert wrong == [], f"unique keys without business_id (add it, or list why): {wrong}"


def test_the_listed_exceptions_still_exist() -> None:
    """A stale entry would hide the next table added without business_id."""
    tables = {table.name: table for table in Base.metadata.sorted_tables}
    assert set(NOT_DISTRIBUTED) <= set(tables)
    for table_name, key in GLOBAL_UNIQUES:
        assert key in _keys(tables[table_name]), (table_name, key)
    for table_name in NOT_DISTRIBUTED:
        if table_name != "businesses" and table_name not in REFERENCES_A_BUSINESS:
            assert "business_id" not in tables[table_name].columns, table_name


# The key directory (server/db/key_directory.py), on both engines: every writer keeps it equal
# to the tables, and every lookup reads the owning table by business_id and key.

def _directory_matches_the_tables(db: Database) -> None:
    with db.read() as session:
        for kind, (model, column) in key_directory.OWNERS.items():
            rows = {tuple(row) for row in session.execute(select(column, model.business_id))}
            entries = {tuple(row) for row in session.execute(select(KeyDirectoryEntry.key,
                                                 KeyDirectoryEntry.business_id).where(
                KeyDirectoryEntry.kind == kind))}
            assert entries == rows, (kind, sorted(entries ^ rows))
        kinds = set(session.execute(select(KeyDirectoryEntry.kind)).scalars())
        assert kinds <= set(key_directory.OWNERS), kinds


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    """The SQL of every statement sent through the engine while the block runs."""
    seen: list[str] = []

    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", _record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", _record)


def _single_shard(seen: list[str], table: str, column: str) -> None:
    """Each statement reading `table` by `column` also names its business_id (a Citus router
    query), and the directory was read first or inside it."""
    reads = [s for s in seen if f"{table}.{column} =" in s and s.startswith("SELECT")]
    assert reads, (table, seen)
    for statement in reads:
        assert f"{table}.business_id =" in statement, statement
        earlier = seen[:seen.index(statement) + 1]
        assert any("key_directory" in s for s in earlier), statement


def _state_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["state"][0]


def test_every_writer_keeps_the_key_directory_and_every_lookup_uses_it(
        database_url: str, tmp_path: Path) -> None:
    secret = tmp_path / "google-secret"
    secret.write_text("s3cret\n", encoding="utf-8")
    runtime = make_runtime(tmp_path, database_url, extra=(
        f'[google]\nclient_id = "client"\nclient_secret_file = "{secret}"\n'))
    db, keyring, config = runtime.db, runtime.keyring, runtime.config
    try:
        with db.write() as session:
            a = create_business(session, name="A", timezone="UTC", now=NOW).id
            b = create_business(session, name="B", timezone="UTC", now=NOW).id
            create_calendar(session, a, name="Anna", now=NOW)
            link_a, token_a = links.create_link(session, keyring, a, scope="all",
                                                profile="full", now=NOW)
            link_b, token_b = links.create_link(session, keyring, b, scope="all",
                                                profile="busy", now=NOW)
            key_a, api_a = create_api_key(session, keyring, a, label="a", now=NOW)
            _, api_b = create_api_key(session, keyring, b, label="b", now=NOW)
            anna = accounts.create_user(session, a, "Anna@Example.com", "long password 1", NOW)
            accounts.create_user(session, a, "bo@example.com", "long password 2", NOW)
            bea = accounts.create_user(session, b, "bea@example.com", "long password 3", NOW)
            cookie_a = sessions.start(session, keyring, anna, NOW, dt.timedelta(hours=1))
            cookie_a2 = sessions.start(session, keyring, anna, NOW, dt.timedelta(hours=1))
            cookie_b = sessions.start(session, keyring, bea, NOW, dt.timedelta(hours=1))
            state_a = _state_of(google_oauth.start_consent(session, keyring, config, a, NOW))
            _state_of(google_oauth.start_consent(session, keyring, config, b, NOW))
        _directory_matches_the_tables(db)
        with db.read() as session:
            assert key_directory.business_of(session, "link", keyring.hash_token(token_b)) == b
            assert key_directory.business_of(session, "admin_email", "anna@example.com") == a

        # An e-mail names one account in the installation, whatever the business.
        with pytest.raises(ConflictError), db.write() as session:
            accounts.create_user(session, b, "anna@example.com", "long password 4", NOW)

        # Lookups: the directory first, then the owning table by business_id and key.
        with db.read() as session, _statements(db) as seen:
            found = links.lookup(session, keyring, token_a, NOW)
            assert found.state == "active" and found.link is not None
            assert found.link.id == link_a.id
            assert dav_context.lookup(session, keyring, token_b, NOW).state == "active"
        _single_shard(seen, "links", "token_hash")
        with db.read() as session, _statements(db) as seen:
            assert business_for_key(session, keyring, api_a) == a
            assert business_for_key(session, keyring, "bk_never-issued") is None
        _single_shard(seen, "api_keys", "key_hash")
        with db.read() as session, _statements(db) as seen:
            signed_in = sessions.find(session, keyring, cookie_b, NOW)
            assert signed_in is not None and signed_in.business_id == b
        _single_shard(seen, "admin_sessions", "token_hash")
        with db.write() as session, _statements(db) as seen:
            assert accounts.check_password(session, "ANNA@example.com", "long password 1",
                                           NOW) is not None
        _single_shard(seen, "admin_users", "email")
        with db.write() as session, _statements(db) as seen:
            assert google_oauth.take_state(session, keyring, state_a, NOW)[0] == a
        _single_shard(seen, "google_oauth_states", "state_hash")
        _directory_matches_the_tables(db)  # the used state is gone from both
        # The hot paths fold the directory into their one query (no round trip of its own).
        for sql in (FeedStates(db, keyring).read.sql, QuickGet(db, keyring).read.sql):
            assert "key_directory" in sql and "links.business_id =" in sql, sql
        quick = QuickGet(db, keyring).read.sql  # the item and its text: the link's business
        assert "item.business_id = links.business_id" in quick, quick
        assert "rendered_items.business_id = links.business_id" in quick, quick

        # Rotate, revoke, sign out, remove, expire: the directory follows in each transaction.
        later = NOW + dt.timedelta(hours=2)
        with db.write() as session:
            _, rotated = links.rotate_link(session, keyring, a, link_a.id, NOW)
            links.revoke_link(session, b, link_b.id, NOW)
            revoke_api_key(session, a, key_a.id, NOW)
            sessions.end(session, keyring, cookie_a)
            with _statements(db) as seen:
                sessions.end_others(session, keyring, b, bea.id, cookie_b)
            ended = [s for s in seen if s.startswith("DELETE FROM admin_sessions")]
            assert ended and all("admin_sessions.business_id =" in s for s in ended), seen
            accounts.reset_password(session, a, "anna@example.com", "long password 5")
            accounts.remove_user(session, a, anna.id)
            # a new consent clears the expired ones (B's)
            state_a = _state_of(google_oauth.start_consent(session, keyring, config, a, later))
        _directory_matches_the_tables(db)
        with db.read() as session:
            assert links.lookup(session, keyring, token_a, NOW).state == "unknown"
            assert links.lookup(session, keyring, rotated, NOW).state == "active"
            assert links.lookup(session, keyring, token_b, NOW).state == "revoked"
            assert business_for_key(session, keyring, api_a) is None
            assert sessions.find(session, keyring, cookie_a2, NOW) is None
            assert sessions.find(session, keyring, cookie_b, NOW) is not None
        with db.write() as session:
            assert accounts.check_password(session, "anna@example.com", "long password 5",
                                           NOW) is None

        # Re-encrypting the stored secrets keeps every hash, so the directory too.
        reencrypt(db, keyring)
        _directory_matches_the_tables(db)

        with db.write() as session:
            delete_business(session, b)
        _directory_matches_the_tables(db)
        with db.read() as session:
            owners = set(session.execute(select(KeyDirectoryEntry.business_id)).scalars())
            assert owners == {a}
            assert business_for_key(session, keyring, api_b) is None
    finally:
        db.dispose()


# On PostgreSQL the migrations key every business's row by (id, business_id) and make every
# reference between two rows of a business carry business_id (0034): what Citus needs to
# distribute the tables by business_id and keep their foreign keys. SQLite keeps the
# single-column keys (one machine; the models describe those).

def _pg_schema(pg_url: str) -> Any:
    from sqlalchemy import inspect

    from server.db.engine import engine_for
    from server.db.migrate import upgrade

    engine = engine_for(pg_url)
    upgrade(engine)
    return engine, inspect(engine)


def test_a_flush_names_the_rows_business_and_a_row_gone_meanwhile_is_a_conflict(
        database_url: str, tmp_path: Path) -> None:
    """The ORM writes a changed or deleted row by id and business_id (the models' version
    column, server/db/models/base.py); a row removed by another transaction meanwhile is a
    409, not an incident."""
    runtime = make_runtime(tmp_path, database_url)
    db = runtime.db
    try:
        with db.write() as session:
            business = create_business(session, name="A", timezone="UTC", now=NOW).id
            calendar_id = create_calendar(session, business, name="Anna", now=NOW).id
        with db.write() as session, _statements(db) as seen:
            calendar = session.get(Calendar, calendar_id)
            assert calendar is not None
            calendar.name = "Anna Berg"
            session.flush()
        [written] = [s for s in seen if s.startswith("UPDATE calendars")]
        assert "calendars.id =" in written and "calendars.business_id =" in written, written
        with pytest.raises(ConflictError) as refused, db.write() as session:
            calendar = session.get(Calendar, calendar_id)
            assert calendar is not None
            session.execute(delete(Calendar.__table__).where(Calendar.id == calendar_id))
            session.delete(calendar)  # gone meanwhile (here: by a statement of its own)
        assert refused.value.details["reason"] == "StaleData"
        with db.read() as session:  # the refused transaction rolled back as a whole
            assert session.get(Calendar, calendar_id) is not None
    finally:
        db.dispose()


def test_a_sign_in_ends_its_own_businesss_expired_sessions_and_the_pruner_the_rest(
        database_url: str, tmp_path: Path) -> None:
    """Signing in deletes the expired sessions of the user's business only (a statement
    naming it); those of other businesses go in the hourly prune, with their directory
    entries."""
    runtime = make_runtime(tmp_path, database_url)
    db, keyring = runtime.db, runtime.keyring
    hour = dt.timedelta(hours=1)
    try:
        with db.write() as session:
            a = create_business(session, name="A", timezone="UTC", now=NOW).id
            b = create_business(session, name="B", timezone="UTC", now=NOW).id
            anna = accounts.create_user(session, a, "anna@example.com", "long password 1", NOW)
            bea = accounts.create_user(session, b, "bea@example.com", "long password 2", NOW)
            sessions.start(session, keyring, anna, NOW, hour)
            sessions.start(session, keyring, bea, NOW, hour)
        later = NOW + 2 * hour
        with db.write() as session, _statements(db) as seen:
            sessions.start(session, keyring, anna, later, hour)
        ended = [s for s in seen if s.startswith("DELETE FROM admin_sessions")]
        assert ended and all("admin_sessions.business_id =" in s for s in ended), seen
        with db.read() as session:
            left = sorted(session.execute(select(AdminSession.business_id)).scalars())
        assert left == [a, b]  # A's new one; B's expired one waits for the prune
        with db.write() as session:
            assert sessions.prune_expired(session, later) == 1
        with db.read() as session:
            assert list(session.execute(select(AdminSession.business_id)).scalars()) == [a]
        _directory_matches_the_tables(db)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_on_postgresql_every_key_and_reference_of_a_business_carries_business_id(
        pg_url: str) -> None:
    engine, inspector = _pg_schema(pg_url)
    try:
        keys, references, checked = [], [], 0
        for table in _tables():
            key = inspector.get_pk_constraint(table.name)["constrained_columns"]
            if "business_id" not in key:
                keys.append(f"{table.name}{tuple(key)}")
            for foreign in inspector.get_foreign_keys(table.name):
                if foreign["referred_table"] in NOT_DISTRIBUTED:
                    continue
                checked += 1
                if "business_id" not in foreign["constrained_columns"] or \
                        "business_id" not in foreign["referred_columns"]:
                    references.append(f"{table.name}{tuple(foreign['constrained_columns'])}")
        assert keys == [], f"primary keys without business_id: {keys}"
        assert references == [], f"references without business_id: {references}"
        # Every reference of the models is there, in its business form.
        expected = sum(1 for table in _tables() for foreign in table.foreign_keys
                       if foreign.column.table.name not in NOT_DISTRIBUTED)
        assert checked == expected > 30
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_on_postgresql_references_cascade_within_their_business(tmp_path: Path,
                                                                pg_url: str) -> None:
    from sqlalchemy import delete, text

    from server.db.models import Booking, Client
    from server.domain.bookings import create_booking
    from server.domain.clients import create_client
    from server.domain.services import create_service

    runtime = make_runtime(tmp_path, pg_url)
    try:
        with runtime.db.write() as session:
            business = create_business(session, name="Salon", timezone="UTC", now=NOW).id
            other = create_business(session, name="Other", timezone="UTC", now=NOW).id
            calendar = create_calendar(session, business, name="Anna", now=NOW).id
            foreign_calendar = create_calendar(session, other, name="Bo", now=NOW).id
            service = create_service(session, business, name="Cut", duration_minutes=30,
                                     now=NOW).id
            client = create_client(session, business, name="Ida", now=NOW).id
            booking = create_booking(session, business, calendar_id=calendar,
                                     service_id=service, client_id=client,
                                     start=NOW + dt.timedelta(days=3), now=NOW).id
        with runtime.db.write() as session:  # a client's deletion keeps the booking's business
            session.execute(delete(Client).where(Client.id == client))
        with runtime.db.read() as session:
            row = session.get(Booking, booking)
            assert row is not None and row.client_id is None and row.business_id == business
        # A row of one business cannot point at another business's row.
        with pytest.raises(ConflictError) as refused, runtime.db.write() as session:
            session.execute(text("UPDATE bookings SET calendar_id = :other WHERE id = :id"),
                            {"other": foreign_calendar, "id": booking})
        assert refused.value.details["reason"] == "ForeignKeyViolation"
        with runtime.db.write() as session:  # a calendar's deletion cascades to its bookings
            session.execute(text("DELETE FROM calendars WHERE id = :id"), {"id": calendar})
        with runtime.db.read() as session:
            assert session.get(Booking, booking) is None
    finally:
        runtime.db.dispose()
