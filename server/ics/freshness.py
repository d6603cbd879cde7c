"""The live check of server/api/stale_policy.py for calendar links (ICS URLs): before an online
booking, each link blocking the calendar whose mirror is older than the check's age limit (0:
always, for a stale link under `recheck`) is fetched once more, conditionally (ETag /
Last-Modified), through the bridge's own fetch and read path (server/ics/fetch.py: the SSRF
guard, the size limit, redirects checked) with one attempt and one deadline for all the links
(health.recheck_timeout_seconds, never more than ics.total_seconds). The mirror is brought up to
date by the engine's read (a changed feed reconciled: what it no longer has stops blocking)
before the booking's own transaction; no database lock is held over the network. A link that
cannot be read in time, or fails, is a doubt: the returned note says why (its host only, never
its URL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from server.db.models import Calendar, IcsReadState, IcsSource
from server.db.scope import business_beside, get_of
from server.domain.availability import describe_age
from server.errors import BookingCalError
from server.ics.provider import FEED, IcsClient, IcsProvider
from server.runtime import Runtime
from server.sync import health
from server.sync.errors import SyncError
from server.sync.reading import read

log = logging.getLogger(__name__)
MIN_SECONDS = 0.1  # below this, a fetch is not started: the deadline has passed


@dataclass(frozen=True)
class _Link:
    """One link to fetch again (its URL is a secret: never logged nor repeated)."""

    source_id: int
    business_id: int
    host: str
    url: str = field(default="", repr=False)
    age: str = ""
    doubt: str | None = None


def recheck(runtime: Runtime, business_id: int, calendar_id: int, now: dt.datetime,
            timeout: float, max_age: float) -> str | None:
    """Fetch every link blocking `calendar_id` whose mirror is older than `max_age` seconds,
    all within `timeout` seconds. None when every mirror is current, else the doubts."""
    deadline = time.monotonic() + timeout
    doubts = [doubt for link in _links(runtime, business_id, calendar_id, now, max_age)
              if (doubt := _freshen(runtime, link, now, timeout, deadline)) is not None]
    return "; ".join(doubts) or None


def _links(runtime: Runtime, business_id: int, calendar_id: int, now: dt.datetime,
           max_age: float) -> list[_Link]:
    """The calendar's blocking links whose last good read is older than `max_age`: one query."""
    found: list[_Link] = []
    with runtime.db.read() as session:
        calendar = get_of(session, Calendar, business_id, calendar_id)
        if calendar is None:
            return []  # the booking itself reports the unknown calendar
        for source, synced_at in session.execute(
                select(IcsSource, IcsReadState.synced_at)
                .outerjoin(IcsReadState, IcsReadState.connection_id == IcsSource.id)
                .where(business_beside(IcsSource, business_id),
                       IcsSource.calendar_id == calendar_id,
                       IcsSource.block_online_booking.is_(True))
                .order_by(IcsSource.id)):
            if synced_at is not None and (now - synced_at).total_seconds() <= max_age:
                continue
            age = describe_age(synced_at, now)
            if source.status == health.NEEDS_RECONNECT:
                found.append(_Link(source.id, source.business_id, source.host, doubt=(
                    f"the calendar link at {source.host} needs attention (an admin fixes it); "
                    f"checked against its events mirrored before ({age})")))
                continue
            found.append(_Link(source.id, source.business_id, source.host,
                               runtime.keyring.decrypt(source.url_encrypted), age))
    return found


def _freshen(runtime: Runtime, link: _Link, now: dt.datetime, timeout: float,
             deadline: float) -> str | None:
    """One bounded conditional fetch and read of one link; None or the doubt."""
    if link.doubt is not None:
        return link.doubt
    before = f"checked against its events mirrored before ({link.age})"
    left = deadline - time.monotonic()
    if left < MIN_SECONDS:
        return f"the calendar link at {link.host} was not read within {timeout:g} s; {before}"
    settings = runtime.config.ics
    limits = dataclasses.replace(settings, total_seconds=min(settings.total_seconds, left),
                                 timeout_seconds=min(settings.timeout_seconds, left))
    provider = IcsProvider(runtime, limits=limits)
    try:
        report = read(runtime.db, provider, IcsClient(link.url), link.source_id, now,
                      rules=runtime.config.availability, only=FEED, attempts=1,
                      business_id=link.business_id)
    except SyncError as exc:  # transient (RetryableError) or not
        if time.monotonic() >= deadline - 0.05:
            return (f"the calendar link at {link.host} did not answer within {timeout:g} s "
                    f"(health.recheck_timeout_seconds); {before}")
        log.info("ICS read before an online booking failed: %s", exc.message)
        return f"the calendar link could not be read ({exc.message}); {before}"
    except (BookingCalError, OSError, SQLAlchemyError) as exc:  # a bridge racing us too
        log.info("ICS read before an online booking failed: %s", type(exc).__name__)
        return f"reading the calendar link at {link.host} failed; {before}"
    if report.failed:  # the feed itself failed (recorded on its read state)
        with runtime.db.read() as session:
            error = session.execute(select(IcsReadState.last_error).where(
                business_beside(IcsReadState, link.business_id),
                IcsReadState.connection_id == link.source_id)).scalar()
        return f"the calendar link could not be read ({error or link.host}); {before}"
    # A good read: a transient failure the bridge was backing off from is over.
    health.note(runtime.db, IcsSource, link.source_id, now, None, label="ICS",
                business_id=link.business_id)
    return None
