"""How many connections and remote calendars are in each state, per provider and kind, counted
by the database (GROUP BY over a CASE that is server/sync/freshness.py's `judge` and
server/sync/status.py's connection verdict in SQL): what the Prometheus scrape reads. Four
queries per provider; the rows returned are bounded by providers x kinds x states, whatever the
number of businesses, connections or calendars. Ages are computed by the database (SQLite's
julianday, PostgreSQL's epoch), as stored: naive UTC."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.types import DateTime, String

from server.config import Config
from server.sync import health
from server.sync.freshness import ERROR, NEEDS_RECONNECTING, OK, STALE
from server.sync.sources import SourceKind, kinds
from server.sync.status import CONNECTION, READING, WRITING


def _age_seconds(session: Session, column: Any, now: dt.datetime) -> Any:
    """Seconds from `column` (a UTCDateTime) to `now`, computed by the database."""
    naive = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", literal(naive, DateTime()) - column)
    stamp = literal(naive.strftime("%Y-%m-%d %H:%M:%S.%f"), String())
    return (func.julianday(stamp) - func.julianday(column)) * 86400.0


def _paused(conn: Any, now: dt.datetime) -> Any:
    return and_(conn.status == health.PAUSED, conn.paused_until.is_not(None),
                conn.paused_until > now)


def counts(session: Session, config: Config,
           now: dt.datetime) -> Counter[tuple[str, str, str]]:
    """(provider, kind, state) -> how many, as server/sync/status.py's overview counts them."""
    found: Counter[tuple[str, str, str]] = Counter()
    for kind in kinds():
        found.update(_kind_counts(session, kind, config, now))
    return found


def _kind_counts(session: Session, kind: SourceKind, config: Config,
                 now: dt.datetime) -> Counter[tuple[str, str, str]]:
    tables = kind.tables
    conn, state, mapping = tables.connection, tables.read_state, tables.calendar_map
    failing = STALE if kind.keeps_last_copy else ERROR
    found: Counter[tuple[str, str, str]] = Counter()
    verdict = case((conn.status == health.NEEDS_RECONNECT, NEEDS_RECONNECTING),
                   (or_(conn.last_error.is_not(None), _paused(conn, now)), failing),
                   else_=OK)
    for name, count in session.execute(select(verdict, func.count()).select_from(conn)
                                       .group_by(verdict)):
        found[(kind.name, CONNECTION, str(name))] += int(count)
    target = kind.own_target_sql(config, conn) if kind.own_target_sql is not None else \
        kind.stale_after(config).total_seconds()
    read_error = state.last_error.is_not(None)
    if kind.keeps_last_copy:
        read_error = or_(read_error, conn.last_error.is_not(None))
    judged = case((conn.status == health.NEEDS_RECONNECT, NEEDS_RECONNECTING),
                  (_paused(conn, now), ERROR),
                  (read_error, failing),
                  (state.synced_at.is_(None), STALE),
                  (_age_seconds(session, state.synced_at, now) > target, STALE),
                  else_=OK)
    for name, count in session.execute(
            select(judged, func.count()).select_from(state)
            .join(conn, and_(conn.id == state.connection_id,
                             conn.business_id == state.business_id))
            .group_by(judged)):
        found[(kind.name, READING, str(name))] += int(count)
    if mapping is not None:
        writing = session.execute(select(func.count()).select_from(mapping).join(
            conn, and_(conn.id == mapping.connection_id,
                       conn.business_id == mapping.business_id)).where(
            mapping.last_error.is_not(None))).scalar()
        found[(kind.name, WRITING, ERROR)] += int(writing or 0)
    return found
