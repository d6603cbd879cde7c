"""The rows a CalDAV account had before (server/caldav/former_rows.py), on both engines: each
forgotten connection remembered once under the account's keyed hash in its business (never the
user name), its first KEEP rows only; a row id another account held first is not the account's;
a business sees only its own rows and takes them along when deleted."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.caldav import connections, copies, former_rows
from server.caldav.discovery import Account
from server.db.models import CalDAVConnection, CalDAVFormerConnection
from server.domain import businesses
from server.runtime import Runtime
from support import NOW, make_runtime

ANNA, BOB = "anna@example.com", "bob@example.com"


def _connect(session: Session, runtime: Runtime, business: int, username: str,
             home: str) -> int:
    return connections.connect(
        session, runtime.keyring, business, server_url="https://dav.example.com/",
        username=username, password="secret", now=NOW,
        account=Account(home_url=f"https://dav.example.com/{home}/", calendars=[])).id


def test_forgotten_rows_are_remembered_per_account_bounded_and_scoped(
        tmp_path: Path, database_url: str) -> None:
    runtime = make_runtime(tmp_path, database_url)
    secret = copies.key_secret(runtime.keyring)
    try:
        with runtime.db.write() as session:
            salon = businesses.create_business(session, name="Salon", timezone="UTC",
                                               now=NOW).id
            other = businesses.create_business(session, name="Other", timezone="UTC",
                                               now=NOW).id
            # More of Anna's connections (other calendar homes) than are kept.
            annas = [_connect(session, runtime, salon, ANNA, f"a{n}")
                     for n in range(former_rows.KEEP + 5)]
            elsewhere = _connect(session, runtime, other, ANNA, "x")
        for connection_id in annas:
            with runtime.db.write() as session:
                connections.disconnect(session, salon, connection_id, secret=secret, now=NOW)
        with runtime.db.write() as session:
            connections.disconnect(session, other, elsewhere, secret=secret, now=NOW)
        with runtime.db.read() as session:
            rows = list(session.execute(select(CalDAVFormerConnection).order_by(
                CalDAVFormerConnection.id)).scalars())
        assert [(r.business_id, r.connection_id) for r in rows] == [
            *[(salon, c) for c in annas[:former_rows.KEEP]], (other, elsewhere)]
        assert all(ANNA not in r.owner_hash and len(r.owner_hash) == 64 for r in rows)
        assert len({r.owner_hash for r in rows}) == 2  # the account in each business

        with runtime.db.write() as session:
            bob = session.get(CalDAVConnection, _connect(session, runtime, salon, BOB, "b"))
            anna = session.get(CalDAVConnection,
                               _connect(session, runtime, salon, "Anna@Example.com", "c"))
            assert bob is not None and anna is not None
            mine = former_rows.rows_of(session, secret, anna)
            assert sorted(set(mine)) == sorted(mine)
            assert set(mine) == {anna.id, *annas[:former_rows.KEEP]}
            # Bob's row may carry an id Anna held before (SQLite hands it out again): then its
            # former names are hers, not his.
            assert former_rows.rows_of(session, secret, bob) == (
                [] if bob.id in annas[:former_rows.KEEP] else [bob.id])
        with runtime.db.write() as session:
            businesses.delete_business(session, salon)
        with runtime.db.read() as session:
            left = [r.business_id for r in session.execute(
                select(CalDAVFormerConnection)).scalars()]
        assert left == [other]
    finally:
        runtime.db.dispose()
