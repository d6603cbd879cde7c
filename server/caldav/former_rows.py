"""The connection rows a CalDAV account had before. Copies named by the former scheme are keyed
by the connection's row (server/caldav/copies.py `former_copy_name`); a connection forgotten
(server/caldav/connections.py `disconnect`, keeping its copies or not) is remembered here under
its account's keyed hash in the business (`copies.owner_hash`, never the user name), so that
the same account connected again under a new row still recognises, and adopts, the copies it
kept. Deleting the business deletes its rows (a foreign key, cascading).

Only a row created before the naming change can have such copies, and an account's such rows
are its earliest: at most KEEP rows are kept per account, its first ones. A row id may be
handed out again (SQLite reuses the highest id once its row is deleted): the former names of
a row belong to the account that held it first, which is the one whose forgetting was
remembered first, so another account that gets the same id later never adopts them. Every
query names the business."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.caldav import copies
from server.db.models import CalDAVConnection, CalDAVFormerConnection

KEEP = 20  # rows remembered per account in a business


def _hash(secret: bytes, connection: CalDAVConnection) -> str:
    return copies.owner_hash(secret, copies.owner_key(connection.business_id,
                                                      connection.username))


def remember(session: Session, secret: bytes, connection: CalDAVConnection,
             now: dt.datetime) -> None:
    """Remember the row of `connection` (about to be forgotten) under its account: once, and
    only among the account's first KEEP rows. `secret`: copies.key_secret."""
    digest = _hash(secret, connection)
    rows = list(session.execute(select(CalDAVFormerConnection.connection_id).where(
        CalDAVFormerConnection.business_id == connection.business_id,
        CalDAVFormerConnection.owner_hash == digest).limit(KEEP)).scalars())
    if connection.id in rows or len(rows) >= KEEP:
        return
    session.add(CalDAVFormerConnection(business_id=connection.business_id, owner_hash=digest,
                                       connection_id=connection.id, forgotten_at=now))
    session.flush()


def rows_of(session: Session, secret: bytes, connection: CalDAVConnection) -> list[int]:
    """The rows whose former-scheme names are the account's: its current row (a restore) and
    the rows it had before, each unless another account held that row id first. Two small
    queries, whatever the number of copies asked about."""
    digest = _hash(secret, connection)
    former = list(session.execute(select(CalDAVFormerConnection.connection_id).where(
        CalDAVFormerConnection.business_id == connection.business_id,
        CalDAVFormerConnection.owner_hash == digest).order_by(
        CalDAVFormerConnection.forgotten_at, CalDAVFormerConnection.id).limit(KEEP)).scalars())
    candidates = [connection.id, *[row for row in former if row != connection.id]]
    first_holder: dict[int, str] = {}
    for row, owner in session.execute(select(
            CalDAVFormerConnection.connection_id, CalDAVFormerConnection.owner_hash).where(
            CalDAVFormerConnection.business_id == connection.business_id,
            CalDAVFormerConnection.connection_id.in_(candidates)).order_by(
            CalDAVFormerConnection.forgotten_at, CalDAVFormerConnection.id)):
        first_holder.setdefault(row, owner)
    return [row for row in candidates if first_holder.get(row, digest) == digest]
