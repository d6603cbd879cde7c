"""A business's ICS sources: subscribing an employee calendar to an ICS URL (stored encrypted:
an Outlook "publish" link carries a token; only its host is kept in plain text), listing them
with their state, asking for a refresh, removing one (its mirrored events go with it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.config import IcsConfig
from server.db.models import IcsMirroredEvent, IcsReadState, IcsSource
from server.db.scope import business_beside, get_of
from server.domain.calendars import get_calendar
from server.errors import ConflictError, InvalidError, NotFoundError
from server.sync import addresses as guard
from server.ics.cursor import Cursor
from server.ics.fetch import check_url, host_of
from server.ics.provider import FEED, interval
from server.keys import Keyring

LABEL_LIMIT = 200


@dataclass(frozen=True)
class SourceStatus:
    """One source as status pages, the CLI and the API show it (never its URL)."""

    id: int
    calendar_id: int
    host: str
    label: str
    state: str  # pending (never read), ok, stale (last fetch failed or too old)
    synced_at: dt.datetime | None  # the last good read
    last_error: str | None
    last_error_at: dt.datetime | None
    next_poll_at: dt.datetime | None
    interval_seconds: int  # the effective one
    events: int  # mirrored events (occurrences) kept from the last good copy
    truncated: bool  # the feed had more occurrences than ics.max_instances
    block_out_of_office: bool
    block_tentative: bool
    block_all_day: bool


def add(session: Session, keyring: Keyring, settings: IcsConfig, business_id: int,
        calendar_id: int, url: str, now: dt.datetime, *, label: str = "",
        interval_seconds: int | None = None, block_out_of_office: bool = True,
        block_tentative: bool = True, block_all_day: bool = True) -> IcsSource:
    """Subscribe the calendar to `url`; it is fetched by the bridge's next pass."""
    get_calendar(session, business_id, calendar_id)
    try:
        url = check_url(url.strip(), settings)
        literal = guard.parse_literal(host_of(url))
        if literal is not None:  # a name is resolved and checked at each fetch
            guard.check(literal, settings.allowed_networks)
    except (ValueError, guard.RefusedAddress) as exc:
        raise InvalidError(str(exc), field="url") from None
    if len(label) > LABEL_LIMIT:
        raise InvalidError(f"label: at most {LABEL_LIMIT} characters", field="label")
    if interval_seconds is not None and not (
            settings.min_interval_seconds <= interval_seconds <= settings.max_interval_seconds):
        raise InvalidError(f"interval_seconds must be from {settings.min_interval_seconds} to "
                           f"{settings.max_interval_seconds} (ics.min/max_interval_seconds)",
                           field="interval_seconds")
    existing = session.execute(select(IcsSource).where(
        business_beside(IcsSource, business_id), IcsSource.calendar_id == calendar_id)).scalars()
    rows = list(existing)
    if len(rows) >= settings.max_sources_per_calendar:
        raise ConflictError(f"calendar {calendar_id} already subscribes to "
                            f"{len(rows)} ICS URLs (ics.max_sources_per_calendar); remove one")
    if any(keyring.decrypt(row.url_encrypted) == url for row in rows):
        raise ConflictError(f"calendar {calendar_id} already subscribes to this URL")
    source = IcsSource(
        business_id=business_id, calendar_id=calendar_id, url_encrypted=keyring.encrypt(url),
        host=host_of(url)[:255], label=label, status="connected", direction="from_ics",
        block_online_booking=True, block_out_of_office=block_out_of_office,
        block_tentative=block_tentative, block_all_day=block_all_day,
        interval_seconds=interval_seconds, created_at=now, updated_at=now)
    session.add(source)
    session.flush()
    session.add(IcsReadState(business_id=business_id, connection_id=source.id,
                             google_calendar=FEED,
                             pull_requested=False, max_span_seconds=0))
    session.flush()
    return source


def get(session: Session, business_id: int, source_id: int) -> IcsSource:
    source = get_of(session, IcsSource, business_id, source_id)
    if source is None:
        raise NotFoundError(f"ICS source {source_id} does not exist in business {business_id}")
    return source


def remove(session: Session, business_id: int, source_id: int) -> None:
    """Unsubscribe: the source, its read state and mirrored events go (cascade)."""
    source = get(session, business_id, source_id)
    for model in (IcsMirroredEvent, IcsReadState):
        for row in session.execute(select(model).where(
                model.connection_id == source.id)).scalars():
            session.delete(row)
    session.delete(source)


def refresh(session: Session, business_id: int, source_id: int) -> None:
    """Ask the bridge to fetch the source at its next pass."""
    source = get(session, business_id, source_id)
    for state in session.execute(select(IcsReadState).where(
            business_beside(IcsReadState, source.business_id),
            IcsReadState.connection_id == source.id)).scalars():
        state.pull_requested = True


def statuses(session: Session, settings: IcsConfig, business_id: int, now: dt.datetime,
             calendar_id: int | None = None) -> list[SourceStatus]:
    """The business's sources (of one calendar), in id order: a constant number of queries."""
    query = select(IcsSource).where(IcsSource.business_id == business_id)
    if calendar_id is not None:
        query = query.where(IcsSource.calendar_id == calendar_id)
    rows = list(session.execute(query.order_by(IcsSource.id)).scalars())
    ids = [row.id for row in rows]
    states = {state.connection_id: state for state in session.execute(select(IcsReadState).where(
        business_beside(IcsReadState, business_id),
        IcsReadState.connection_id.in_(ids or [0]))).scalars()}
    counts: dict[int, int] = {source_id: count for source_id, count in session.execute(select(
        IcsMirroredEvent.connection_id, func.count()).where(
        business_beside(IcsMirroredEvent, business_id),
        IcsMirroredEvent.connection_id.in_(ids or [0])).group_by(
        IcsMirroredEvent.connection_id))}
    return [_status(row, states.get(row.id), counts.get(row.id, 0), settings, now)
            for row in rows]


def _status(row: IcsSource, state: IcsReadState | None, events: int, settings: IcsConfig,
            now: dt.datetime) -> SourceStatus:
    every = interval(settings, row.interval_seconds, row.feed_interval_seconds)
    synced = state.synced_at if state is not None else None
    # The read state's error (the feed itself: 404, not a calendar, refused address) is newer
    # than the source's when both exist; the source's is a transient failure backing off.
    errors = [(when, text) for when, text in (
        (state.last_error_at if state else None, state.last_error if state else None),
        (row.last_error_at, row.last_error)) if text]
    last_at, last_error = max(errors, key=lambda pair: pair[0] or now) if errors \
        else (None, None)
    if synced is None and not errors:
        condition = "pending"
    elif errors or synced is None or now - synced > 3 * every:
        condition = "stale"
    else:
        condition = "ok"
    cursor = Cursor.load(state.sync_token if state is not None else None)
    return SourceStatus(
        id=row.id, calendar_id=row.calendar_id, host=row.host, label=row.label,
        state=condition, synced_at=synced, last_error=last_error, last_error_at=last_at,
        next_poll_at=row.next_poll_at, interval_seconds=int(every.total_seconds()),
        events=events, truncated=bool(cursor and cursor.truncated),
        block_out_of_office=row.block_out_of_office, block_tentative=row.block_tentative,
        block_all_day=row.block_all_day)
