"""Every connection and synced calendar with its state, last success, next try and last error,
newest problems first: what `bookingcal sync status` prints, the admin overview page
(/admin/sync) shows for one business, and the Prometheus metrics count (per provider and
state, never a tenant's name). Three queries per provider (server/sync/sources.py), whatever
the number of businesses."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from server.config import Config
from server.db.models import Business
from server.sync import health
from server.sync.freshness import ERROR, NEEDS_RECONNECTING, OK, STALE, judge
from server.sync.sources import SourceKind, kinds

CONNECTION, READING, WRITING = "connection", "reading", "writing"
_RANK = {NEEDS_RECONNECTING: 0, ERROR: 1, STALE: 2, OK: 3}


@dataclass(frozen=True)
class Line:
    """One connection, or one remote calendar it reads or writes."""

    provider: str
    label: str
    business_id: int
    business: str
    connection_id: int
    account: str  # the connected account's e-mail, when known
    role: str  # CONNECTION, READING or WRITING
    calendar: str  # the remote calendar ("" for the connection)
    state: str  # ok, stale, needs_reconnecting or error
    last_success: dt.datetime | None
    next_try: dt.datetime | None  # None: waits for a person (reconnecting)
    last_error: str | None
    last_error_at: dt.datetime | None
    fix_path: str  # where an admin fixes it
    # A read of the calendar that spans turns (a first import of a big calendar): the events
    # it has read so far; None when no such read is under way.
    read_so_far: int | None = None


def overview(session: Session, config: Config, now: dt.datetime,
             business_id: int | None = None) -> list[Line]:
    """Every line (of one business, or all), problems first, newest problem first."""
    lines: list[Line] = []
    names_query = select(Business.id, Business.name)
    if business_id is not None:
        names_query = names_query.where(Business.id == business_id)
    names = {row.id: row.name for row in session.execute(names_query)}
    for kind in kinds():
        lines.extend(_lines(session, kind, config, now, business_id, names))
    return sorted(lines, key=lambda line: (
        _RANK[line.state], -(line.last_error_at.timestamp() if line.last_error_at else 0),
        line.provider, line.business_id, line.connection_id, line.role, line.calendar))


def _lines(session: Session, kind: SourceKind, config: Config, now: dt.datetime,
           business_id: int | None, names: dict[int, str]) -> list[Line]:
    tables = kind.tables
    conn, state, mapping = tables.connection, tables.read_state, tables.calendar_map
    poll = kind.poll(config)
    scope = [conn.business_id == business_id] if business_id is not None else []
    # The account's name: its address (Google, Microsoft), the user name (CalDAV), or the
    # source's label or host (ICS: never its URL).
    connections = {row.id: row for row in session.execute(select(conn).where(*scope)).scalars()}
    lines: list[Line] = []
    newest: dict[int, dt.datetime] = {}
    for row in session.execute(
            select(state.connection_id, state.google_calendar, state.synced_at,
                   state.last_error, state.last_error_at, state.page_token, state.read_items)
            .join(conn, and_(conn.id == state.connection_id,
                             conn.business_id == state.business_id)).where(*scope)):
        owner = connections[row.connection_id]
        error, error_at = row.last_error, row.last_error_at
        if kind.keeps_last_copy and owner.last_error and (
                error is None or (owner.last_error_at or now) > (error_at or now)):
            error, error_at = owner.last_error, owner.last_error_at  # backing off
        verdict, _ = judge(kind, owner.status, owner.paused_until, row.synced_at,
                           error, kind.target(config, owner), now)
        if row.synced_at is not None:
            newest[row.connection_id] = max(row.synced_at, newest.get(row.connection_id,
                                                                      row.synced_at))
        calendar = kind.own_name(owner) if kind.own_name is not None else row.google_calendar
        lines.append(Line(kind.name, kind.label, owner.business_id,
                          names.get(owner.business_id, ""), row.connection_id,
                          _account(owner), READING, calendar, verdict,
                          row.synced_at, _next(owner, row.synced_at, poll, now),
                          error, error_at, kind.reconnect_path,
                          row.read_items if row.page_token is not None else None))
    for failing in session.execute(
            select(mapping.connection_id, mapping.write_calendar, mapping.last_error,
                   mapping.last_error_at, mapping.retry_at)
            .join(conn, and_(conn.id == mapping.connection_id,
                             conn.business_id == mapping.business_id))
            .where(mapping.last_error.is_not(None), *scope)) if mapping is not None else ():
        owner = connections[failing.connection_id]
        lines.append(Line(kind.name, kind.label, owner.business_id,
                          names.get(owner.business_id, ""), failing.connection_id,
                          owner.account_email, WRITING, failing.write_calendar, ERROR, None,
                          failing.retry_at if owner.status != health.NEEDS_RECONNECT else None,
                          failing.last_error, failing.last_error_at, kind.reconnect_path))
    for connection_id, owner in connections.items():
        if owner.status == health.NEEDS_RECONNECT:
            verdict = NEEDS_RECONNECTING
        elif owner.last_error or (owner.status == health.PAUSED and owner.paused_until
                                  and owner.paused_until > now):
            verdict = STALE if kind.keeps_last_copy else ERROR
        else:
            verdict = OK
        last = newest.get(connection_id)
        lines.append(Line(kind.name, kind.label, owner.business_id,
                          names.get(owner.business_id, ""), connection_id,
                          _account(owner), CONNECTION, "", verdict, last,
                          _next(owner, last, poll, now), owner.last_error,
                          owner.last_error_at, kind.reconnect_path))
    return lines


def _account(owner: Any) -> str:
    """The connection's account for people: its address, user name, or label and host."""
    for name in ("account_email", "username"):
        if hasattr(owner, name):
            return str(getattr(owner, name) or "")
    host = str(getattr(owner, "host", "") or "")
    label = str(getattr(owner, "label", "") or "")
    return f"{label} ({host})" if label and label != host else host


def _next(owner: Any, last: dt.datetime | None, poll: dt.timedelta,
          now: dt.datetime) -> dt.datetime | None:
    status = getattr(owner, "status")
    paused_until = getattr(owner, "paused_until")
    if status == health.NEEDS_RECONNECT:
        return None
    if status == health.PAUSED and paused_until is not None and paused_until > now:
        return paused_until
    scheduled = getattr(owner, "next_poll_at", None)  # a source on its own interval (ICS)
    if scheduled is not None:
        return max(now, scheduled)
    if last is None:
        return now
    return max(now, last + poll)


def counts(lines: list[Line]) -> Counter[tuple[str, str, str]]:
    """(provider, role, state) -> how many: the metrics' figures, no tenant in them."""
    return Counter((line.provider, line.role, line.state) for line in lines)


def render_failed_mail(alerts: list[Any], now: dt.datetime) -> list[str]:
    """The failed deliveries (server/sync/alerts.py failed_deliveries) as `bookingcal sync
    status` prints them after its table: nobody was told of these problems."""
    from server.domain.timeutil import ago

    if not alerts:
        return []
    out = ["", "E-MAILS NOT DELIVERED (nobody was told; `bookingcal sync retry-mail` sends "
           "them again):"]
    for alert in alerts:
        what = "recovery of" if alert.resolved_at is not None else alert.problem.replace(
            "_", " ")
        out.append(f"failed delivery  {alert.provider:<10}business {alert.business_id:<6}"
                   f"{what} {alert.subject} (since {ago(alert.first_seen_at, now)}, "
                   f"{alert.mail_failures} attempts)")
    return out


def render(lines: list[Line], now: dt.datetime) -> list[str]:
    """`bookingcal sync status`'s table."""
    from server.domain.timeutil import ago

    def when(moment: dt.datetime | None, never: str) -> str:
        return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else never

    out = [f"{'STATE':<19}{'PROVIDER':<10}{'BUSINESS':<22}{'WHAT':<34}{'LAST SUCCESS':<18}"
           f"{'NEXT TRY':<18}LAST ERROR"]
    for line in lines:
        what = "connection" + (f" {line.account}" if line.account else "") \
            if line.role == CONNECTION else f"{line.role} {line.calendar}"
        business = f"{line.business_id} {line.business}"
        error = "" if not line.last_error else \
            f"{line.last_error} ({ago(line.last_error_at, now)})"
        if line.read_so_far is not None:
            error = f"reading: {line.read_so_far} events so far" + (f"; {error}" if error else "")
        out.append(f"{line.state:<19}{line.provider:<10}{business[:21]:<22}{what[:33]:<34}"
                   f"{when(line.last_success, 'never'):<18}"
                   f"{when(line.next_try, 'on reconnect'):<18}{error}".rstrip())
    if not lines:
        out.append("(no connections)")
    return out
