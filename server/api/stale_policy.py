"""Before an online booking: the per-provider live check of the sources blocking the calendar,
and the business's stale-data policy (server/sync/freshness.py) applied to its outcome.

A provider's check (`Check`) asks the provider for the calendar's busy time now, bounded by a
timeout, and brings the mirror up to date before the booking's own transaction (no database
lock is held over the network); it returns None when it did, or why not (the mirrored events
were used as they were). Google, Microsoft and CalDAV: a bounded incremental read through the
engine's read path (server/google/freshness.py, server/microsoft/freshness.py,
server/caldav/freshness.py); ICS: one bounded conditional GET of the link through the same
fetch path (server/ics/freshness.py). A check reads a source whose mirror is older than the
business's live_check_max_age_seconds (else availability.google_max_age_seconds); a source
that is not ok is always read live. A provider registers its check in CHECKS (imported lazily: the
checks import the domain layer).

- offer: every check runs (best effort); a doubt becomes a warning on the booking.
- hide: a source that is not ok refuses the booking (its times are not offered either).
- recheck: every check runs; a doubt (no answer in time, an error, a connection to reconnect,
  a provider without a check whose source is not ok) refuses the booking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from server.errors import ConflictError
from server.runtime import Runtime
from server.sync.freshness import (HIDE, OFFER, RECHECK, SourceHealth, blocking_sources,
                                   live_check_max_age, policy_of)

# (runtime, business id, employee calendar id, now, timeout in seconds, max age in seconds:
# a mirror older than this is read live; 0: always) -> None or a doubt
Check = Callable[[Runtime, int, int, dt.datetime, float, float], "str | None"]


def _google() -> Check:
    from server.google.freshness import recheck
    return recheck


def _microsoft() -> Check:
    from server.microsoft.freshness import recheck
    return recheck


def _caldav() -> Check:
    from server.caldav.freshness import recheck
    return recheck


def _ics() -> Check:
    from server.ics.freshness import recheck
    return recheck


CHECKS: dict[str, Callable[[], Check]] = {"google": _google, "microsoft": _microsoft,
                                          "caldav": _caldav, "ics": _ics}


class StaleSourceError(ConflictError):
    """An online booking refused because a source blocking its calendar cannot be trusted."""

    code = "stale_source"


def _refuse(source: SourceHealth, why: str, policy: str) -> StaleSourceError:
    return StaleSourceError(
        f"online booking on this calendar is closed until its {source.label} busy time is "
        f"current: {why} (the business's stale-data policy is {policy!r})",
        provider=source.provider, state=source.state)


def before_online_booking(runtime: Runtime, business_id: int, calendar_id: int,
                          now: dt.datetime) -> list[str]:
    """Apply the business's policy to the sources blocking `calendar_id`; the warnings to
    return with the booking. Raises StaleSourceError when the booking must be refused."""
    with runtime.db.read() as session:
        policy = policy_of(session, business_id)
        sources = blocking_sources(session, business_id, [calendar_id], now,
                                   runtime.config).get(calendar_id, [])
        max_age = live_check_max_age(session, business_id, runtime.config)
    notes: list[str] = []
    timeout = runtime.config.health.recheck_timeout_seconds
    for source in sources:
        if policy == HIDE:
            if not source.ok:
                raise _refuse(source, source.reason, policy)
            continue
        factory = CHECKS.get(source.provider)
        if factory is None:
            if source.ok:
                continue
            if policy == RECHECK:
                raise _refuse(source, f"{source.reason}; {source.label} cannot be asked live",
                              policy)
            notes.append(source.warning())
            continue
        # A source that is not ok is read live whatever the age of its mirror.
        doubt = factory()(runtime, business_id, calendar_id, now,
                          timeout if policy == RECHECK else
                          runtime.config.availability.google_sync_timeout_seconds,
                          max_age if source.ok else 0.0)
        if doubt is None:
            continue
        if policy == RECHECK:
            raise _refuse(source, doubt, policy)
        assert policy == OFFER
        notes.append(doubt)
    return notes
