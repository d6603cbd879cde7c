"""The connections of a provider that may be worked, and those with work besides polling, as
every provider with calendar maps and copies answers them (the Provider protocol's `workable`
and `wanted`): over all its rows, or those of some connections only (`only`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.sync import health
from server.sync.backlog import backlogs
from server.sync.tables import Tables


def workable(tables: Tables, session: Session, now: dt.datetime,
             only: Collection[int] | None = None) -> list[int]:
    """Connections not needing reconnection and not paused, in id order (of `only`)."""
    table = tables.connection
    query = select(table.id).where(
        table.status != health.NEEDS_RECONNECT,
        or_(table.paused_until.is_(None), table.paused_until <= now)).order_by(table.id)
    if only is not None:
        query = query.where(table.id.in_(sorted(only)))
    return list(session.execute(query).scalars())


def asked(tables: Tables, session: Session, only: Collection[int] | None = None) -> set[int]:
    """Connections a notification asked to read (a partial index holds only those rows)."""
    state = tables.read_state
    query = select(state.connection_id).where(state.pull_requested.is_(True)).distinct()
    if only is not None:
        query = query.where(state.connection_id.in_(sorted(only)))
    return set(session.execute(query).scalars())


def wanted(tables: Tables, session: Session, now: dt.datetime,
           only: Collection[int] | None = None) -> set[int]:
    """Connections notified, or with a backlog due (server/sync/backlog.py), of `only`."""
    if only is not None and not only:
        return set()
    return asked(tables, session, only) | {
        connection_id for connection_id, backlog
        in backlogs(session, now, only, tables=tables).items() if backlog.due > 0}


class SendingConnections:
    """`workable`, `wanted` and `lists_due` of the Provider protocol for a provider with
    calendar maps and copies (Google, Microsoft, CalDAV): mixed into its adapter, over its
    `tables`."""

    tables: Tables
    lists_due = False  # every workable connection, whether due or not

    def workable(self, session: Session, now: dt.datetime,
                 only: Collection[int] | None = None) -> list[int]:
        """Connections not needing reconnection and not paused."""
        return workable(self.tables, session, now, only)

    def wanted(self, session: Session, now: dt.datetime,
               only: Collection[int] | None = None) -> set[int]:
        """Connections notified, or with a backlog due (server/sync/backlog.py)."""
        return wanted(self.tables, session, now, only)
