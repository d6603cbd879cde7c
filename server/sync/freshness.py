"""How fresh the external sources that block online booking are, per employee calendar: for
each source (a provider's remote calendar mirrored for that calendar, when the business lets
its busy time block online booking), when it was last read, its state and why.

States: `ok`; `stale` (never read, or last read longer ago than its target,
server/sync/sources.py: its provider's, or its connection's own poll interval plus slack); `needs_reconnecting` (the provider refused the credentials);
`error` (the connection is paused on a quota, or reading this calendar fails). One query per
provider for any number of calendars, each an indexed join on the business's rows: the cost
does not grow with calendar size or tenant count."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, null, or_, select
from sqlalchemy.orm import Session

from server.config import Config
from server.db.models import Business
from server.db.scope import business_beside
from server.domain.schedules import Freshness
from server.domain.timeutil import ago
from server.sync import health
from server.sync.sources import SourceKind, kinds

OK, STALE, NEEDS_RECONNECTING, ERROR = "ok", "stale", "needs_reconnecting", "error"
STATES = (OK, STALE, NEEDS_RECONNECTING, ERROR)
OFFER, HIDE, RECHECK = "offer", "hide", "recheck"
POLICIES = (OFFER, HIDE, RECHECK)


@dataclass(frozen=True)
class SourceHealth:
    """One source blocking one employee calendar."""

    provider: str
    label: str
    calendar_id: int  # the employee calendar it blocks
    remote_calendar: str  # the provider's calendar id (key holders only)
    connection_id: int
    synced_at: dt.datetime | None
    state: str
    reason: str  # for people; never an error's text nor an account
    error: str | None = None  # the recorded error (key holders only)

    @property
    def ok(self) -> bool:
        return self.state == OK

    def warning(self) -> str:
        """The line an availability answer's warnings carry for a source that is not ok."""
        return f"{self.label} busy time may be out of date: {self.reason}"


def judge(kind: SourceKind, status: str, paused_until: dt.datetime | None,
          synced_at: dt.datetime | None, read_error: str | None, target: dt.timedelta,
          now: dt.datetime) -> tuple[str, str]:
    """The state of one source and its reason."""
    if status == health.NEEDS_RECONNECT:
        return NEEDS_RECONNECTING, (f"the {kind.label} connection needs reconnecting (last "
                                    f"read {ago(synced_at, now)}); an admin reconnects it")
    if status == health.PAUSED and paused_until is not None and paused_until > now:
        return ERROR, (f"{kind.label} sync is paused (quota) until "
                       f"{paused_until:%Y-%m-%d %H:%M} UTC (last read {ago(synced_at, now)})")
    if read_error is not None and kind.keeps_last_copy:
        kept = "its last good copy keeps blocking" if synced_at is not None else \
            "nothing of it blocks yet"
        return STALE, (f"reading the {kind.calendar_word} fails (last good read "
                       f"{ago(synced_at, now)}); {kept}")
    if read_error is not None:
        return ERROR, (f"reading the {kind.calendar_word} fails (last read "
                       f"{ago(synced_at, now)})")
    if synced_at is None:
        return STALE, f"the {kind.calendar_word} has not been read yet"
    if now - synced_at > target:
        minutes = int(target.total_seconds() // 60)
        return STALE, (f"last read {ago(synced_at, now)}, more than the {minutes} min "
                       f"expected")
    return OK, f"last read {ago(synced_at, now)}"


def blocking_sources(session: Session, business_id: int, calendar_ids: Iterable[int],
                     now: dt.datetime, config: Config) -> dict[int, list[SourceHealth]]:
    """Every source blocking each of `calendar_ids` (of `business_id`), by calendar id."""
    ids = sorted(set(calendar_ids))
    found: dict[int, list[SourceHealth]] = {calendar_id: [] for calendar_id in ids}
    if not ids:
        return found
    for kind in kinds():
        if kind.tables.calendar_map is None:
            for source in _own_sources(session, kind, business_id, ids, now, config):
                found[source.calendar_id].append(source)
            continue
        tables, target = kind.tables, kind.stale_after(config)
        conn, mapping, state = tables.connection, tables.calendar_map, tables.read_state
        own_interval = getattr(conn, kind.interval_column) if kind.interval_column \
            else null()
        rows = session.execute(
            select(conn.id, conn.status, conn.paused_until, mapping.calendar_id,
                   mapping.read_calendar, state.synced_at, state.last_error,
                   own_interval.label("own_interval"))
            .join(mapping, and_(mapping.connection_id == conn.id,
                                business_beside(mapping, conn.business_id)))
            .outerjoin(state, and_(state.connection_id == conn.id,
                                   business_beside(state, conn.business_id),
                                   state.google_calendar == mapping.read_calendar))
            .where(conn.business_id == business_id, mapping.calendar_id.in_(ids),
                   conn.block_online_booking.is_(True),
                   or_(conn.direction == "both", conn.direction == tables.read_only))
            .order_by(mapping.calendar_id, conn.id))
        for row in rows:
            if kind.interval_column is not None:
                target = kind.connection_target(config, row.own_interval)
            verdict, reason = judge(kind, row.status, row.paused_until, row.synced_at,
                                    row.last_error, target, now)
            found[row.calendar_id].append(SourceHealth(
                kind.name, kind.label, row.calendar_id, row.read_calendar, row.id,
                row.synced_at, verdict, reason, row.last_error))
    return found


def _own_sources(session: Session, kind: SourceKind, business_id: int, ids: list[int],
                 now: dt.datetime, config: Config) -> list[SourceHealth]:
    """The sources of a kind whose connection is the source (ICS URLs: each on one employee
    calendar, on its own interval): one query. A failure recorded on the source (a transient
    one, backing off) or on its read state (the feed itself) counts, the newer first."""
    tables = kind.tables
    conn, state = tables.connection, tables.read_state
    found: list[SourceHealth] = []
    for row, synced_at, read_error, read_error_at in session.execute(
            select(conn, state.synced_at, state.last_error, state.last_error_at)
            .outerjoin(state, and_(state.connection_id == conn.id,
                                   business_beside(state, conn.business_id)))
            .where(conn.business_id == business_id, conn.calendar_id.in_(ids),
                   conn.block_online_booking.is_(True))
            .order_by(conn.calendar_id, conn.id)):
        errors = [(when or now, text) for when, text in (
            (read_error_at, read_error), (row.last_error_at, row.last_error)) if text]
        error = max(errors, key=lambda pair: pair[0])[1] if errors else None
        verdict, reason = judge(kind, row.status, row.paused_until, synced_at, error,
                                kind.target(config, row), now)
        name = kind.own_name(row) if kind.own_name is not None else str(row.id)
        found.append(SourceHealth(kind.name, kind.label, row.calendar_id, name, row.id,
                                  synced_at, verdict, reason, error))
    return found


def policy_of(session: Session, business_id: int) -> str:
    """The business's stale-data policy (offer, hide or recheck)."""
    found = session.execute(select(Business.stale_policy).where(
        Business.id == business_id)).scalar()
    return found if found in POLICIES else OFFER


def live_check_max_age(session: Session, business_id: int, config: Config) -> float:
    """Seconds: a live check before an online booking reads a source whose mirror is older
    (the business's own, else availability.google_max_age_seconds)."""
    found = session.execute(select(Business.live_check_max_age_seconds).where(
        Business.id == business_id)).scalar()
    return float(found if found is not None else config.availability.google_max_age_seconds)


def freshness_of(session: Session, business_id: int, calendar_ids: Iterable[int],
                 now: dt.datetime, config: Config) -> Freshness:
    """What availability (server/domain/schedules.py) needs: the sources blocking each
    calendar and whether the business's policy hides a calendar whose source is not ok."""
    return Freshness(blocking_sources(session, business_id, calendar_ids, now, config),
                     hide=policy_of(session, business_id) == HIDE)
