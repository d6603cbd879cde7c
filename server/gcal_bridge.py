"""The bridge daemon (`bookingcal bridge`): mirrors bookings to Google and Google events back,
for every connected business.

Several bridge processes may run against one database: a process works a connection only while
it holds the connection's lease (a row update that succeeds for one process at a time), so
scaling out never double-writes. A pass is idempotent: killed at any moment, a restarted bridge
converges without duplicates (deterministic event ids, positions saved after the writes).
Errors are classified once (server/google/api.py), per request and per part of a batch: an
invalid grant marks the connection as needing reconnection and stops calling Google at once,
quota pauses it for an hour, transient errors back off (reads and writes apart, so neither
holds back the other), and a write Google refuses backs off on its own item
(server/google/item_errors.py); nothing local is ever deleted because Google failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from server.db.models import GoogleConnection, GoogleReadState
from server.errors import BookingCalError
from server.google import channels
from server.google import pull as pulling
from server.google import restored, settings
from server.google import push as pushing
from server.google.api import (
    GoogleCalendarApi, GoogleError, QuotaError, ReconnectError, backoff_delay,
)
from server.google.backlog import backlogs
from server.google.wakeup import JournalWakeup
from server.runtime import Runtime

log = logging.getLogger(__name__)
LEASE = dt.timedelta(seconds=120)
QUOTA_PAUSE = dt.timedelta(hours=1)
IDLE_WAIT = 0.5  # seconds between looks at the journal when idle
BACKOFF_BASE = 1.0  # seconds before the first retry of a failed read or write pass
BACKOFF_CAP = 60.0


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as found:
            return found.read().strip().replace("-", "")[:8]
    except OSError:
        return "-"


def worker_name() -> str:
    """host:boot:pid:random (at most 64 characters): a restarted bridge on the same machine can
    tell that the process holding a lease is gone (see `lease_owner_dead`)."""
    host = socket.gethostname().replace(":", "")[:40]
    return f"{host}:{_boot_id()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def lease_owner_dead(owner: str) -> bool:
    """Whether `owner` names a bridge process of this machine (same host name, same boot) that
    no longer runs: killed (kill -9, a crash), its lease can be taken over at once instead of
    after it expires. Anything else (another machine, a live or unknown process) is not."""
    parts = owner.split(":")
    if len(parts) != 4 or not parts[2].isdigit():
        return False
    mine = worker_name().split(":")
    if parts[:2] != mine[:2] or int(parts[2]) == os.getpid():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, owned by someone else
    return False


@dataclass
class Backoff:
    """When each connection may read (or write) Google again after failing on a transient
    error (5xx, rate limit, timeout): exponential with jitter, honouring Retry-After, capped
    (api.backoff_delay). In memory: a restarted bridge tries at once."""

    failures: dict[int, int] = field(default_factory=dict)
    until: dict[int, dt.datetime] = field(default_factory=dict)

    def ready(self, connection_id: int, now: dt.datetime) -> bool:
        until = self.until.get(connection_id)
        return until is None or until <= now

    def failed(self, connection_id: int, now: dt.datetime, error: BookingCalError) -> float:
        count = self.failures.get(connection_id, 0) + 1
        self.failures[connection_id] = count
        retry_after = error.retry_after if isinstance(error, GoogleError) else None
        wait = backoff_delay(count, retry_after, base=BACKOFF_BASE, cap=BACKOFF_CAP)
        self.until[connection_id] = now + dt.timedelta(seconds=wait)
        return wait

    def succeeded(self, connection_id: int) -> None:
        self.failures.pop(connection_id, None)
        self.until.pop(connection_id, None)


@dataclass
class PassReport:
    connection_id: int
    pushed: pushing.PushReport | None = None
    pulled: pulling.PullReport | None = None
    error: str | None = None


@dataclass
class Bridge:
    runtime: Runtime
    worker: str = field(default_factory=worker_name)
    api_factory: Callable[[Runtime, str], GoogleCalendarApi] | None = None
    pulled_at: dict[int, dt.datetime] = field(default_factory=dict)
    unthrottled: bool = False  # `google sync --once`: backfill a minute's worth per pass
    # One adapter per connection, kept while its token is the same: the access token it holds
    # is reused (and refreshed by the library when it expires), so an idle pass asks Google
    # nothing but one list per read calendar.
    apis: dict[int, tuple[str, GoogleCalendarApi]] = field(default_factory=dict)
    # Reads and writes that failed on a transient error wait apart, so neither holds back the
    # other; `force_pull` (google sync, tests) does not wait.
    reads: Backoff = field(default_factory=lambda: Backoff())
    writes: Backoff = field(default_factory=lambda: Backoff())
    # Calls per read request: one, so a failing read costs one request a pass and never sleeps
    # in the loop (it backs off through `reads` instead). None: the adapter's own retries.
    read_attempts: int | None = 1
    # Calls per write that failed in a batch: the batch and one retry alone; a write still
    # failing then backs off on its own item (server/google/item_errors.py).
    write_attempts: int | None = 2

    def _api(self, connection_id: int, refresh_token: str) -> GoogleCalendarApi:
        kept = self.apis.get(connection_id)
        if kept is not None and kept[0] == refresh_token:
            return kept[1]
        if self.api_factory is not None:
            api = self.api_factory(self.runtime, refresh_token)
        else:
            api = GoogleCalendarApi(self.runtime.config.google, refresh_token)
        self.apis[connection_id] = (refresh_token, api)
        return api

    # --- leases -----------------------------------------------------------------------------

    def acquire(self, connection_id: int, now: dt.datetime) -> bool:
        with self.runtime.db.write() as session:
            result = session.execute(update(GoogleConnection).where(
                GoogleConnection.id == connection_id,
                or_(GoogleConnection.lease_owner.is_(None),
                    GoogleConnection.lease_owner == self.worker,
                    GoogleConnection.lease_until < now)).values(
                lease_owner=self.worker, lease_until=now + LEASE))
            if cast(CursorResult[Any], result).rowcount:
                return True
            owner = session.execute(select(GoogleConnection.lease_owner).where(
                GoogleConnection.id == connection_id)).scalar()
            if owner is None or not lease_owner_dead(owner):
                return False
            log.info("taking over the lease of %s, which no longer runs", owner)
            result = session.execute(update(GoogleConnection).where(
                GoogleConnection.id == connection_id,
                GoogleConnection.lease_owner == owner).values(
                lease_owner=self.worker, lease_until=now + LEASE))
            return bool(cast(CursorResult[Any], result).rowcount)

    def release(self, connection_id: int) -> None:
        with self.runtime.db.write() as session:
            session.execute(update(GoogleConnection).where(
                GoogleConnection.id == connection_id,
                GoogleConnection.lease_owner == self.worker).values(
                lease_owner=None, lease_until=None))

    # --- one pass ---------------------------------------------------------------------------

    def due(self, session: Session, now: dt.datetime) -> list[int]:
        """Connections with work: changes not yet sent, copies to rewrite, or a poll due.
        A constant number of queries, however many connections there are."""
        poll = dt.timedelta(seconds=self.runtime.config.google.poll_seconds)
        connections = session.execute(select(GoogleConnection.id).where(
            GoogleConnection.status != "needs_reconnect", or_(
                GoogleConnection.paused_until.is_(None),
                GoogleConnection.paused_until <= now)).order_by(GoogleConnection.id)).scalars()
        asked = set(session.execute(select(GoogleReadState.connection_id).where(
            GoogleReadState.pull_requested.is_(True)).distinct()).scalars())
        busy = {connection_id for connection_id, backlog in backlogs(session, now).items()
                if backlog.due > 0}
        found = []
        for connection_id in connections:
            pulled = self.pulled_at.get(connection_id)
            if pulled is None or now - pulled >= poll or connection_id in busy \
                    or connection_id in asked:
                found.append(connection_id)
        return found

    def work(self, connection_id: int, now: dt.datetime, *, force_pull: bool = False
             ) -> PassReport:
        """One pass over a connection: read its Google calendars when a read is due, then
        send its changes. Reading and writing fail apart: a failing read never holds back the
        writes (nor the reverse); each side that failed on a transient error backs off on its
        own. A refused token or an exhausted quota, on either side, stops both at once."""
        report = PassReport(connection_id)
        if not self.acquire(connection_id, now):
            return report
        try:
            with self.runtime.db.read() as session:
                connection = session.get(GoogleConnection, connection_id)
                if connection is None or connection.status == "needs_reconnect":
                    return report
                token = self.runtime.keyring.decrypt(connection.refresh_token_encrypted)
                direction, reading = connection.direction, settings.reads(connection)
                pull_due = force_pull or connection_id not in self.pulled_at or \
                    now - self.pulled_at[connection_id] >= dt.timedelta(
                        seconds=self.runtime.config.google.poll_seconds) \
                    or notified(session, connection_id)
            api = self._api(connection_id, token)
            errors: list[str] = []
            if pull_due and reading and (force_pull or self.reads.ready(connection_id, now)):
                try:
                    report.pulled = pulling.pull(
                        self.runtime.db, api, connection_id, now,
                        id_secret=pushing.id_secret(self.runtime.keyring),
                        attempts=self.read_attempts)
                    self.pulled_at[connection_id] = now
                    self.reads.succeeded(connection_id)
                    channels.renew(self.runtime.db, self.runtime.keyring, self.runtime.config,
                                   api, connection_id, now)
                except (ReconnectError, QuotaError):
                    raise
                except BookingCalError as exc:
                    wait = self.reads.failed(connection_id, now, exc)
                    errors.append(f"reading: {exc.message}")
                    log.info("connection %d: reading Google failed; next read in %.0f s",
                             connection_id, wait)
            if direction != "from_google" and (force_pull or self.writes.ready(connection_id,
                                                                                now)):
                report.pushed = pushing.push(self.runtime.db, self.runtime.keyring, api,
                                             connection_id, now, self._backfill_budget(now),
                                             part_attempts=self.write_attempts)
                if report.pushed.writes:  # counts only: no event content in logs
                    log.info("connection %d: to Google %d inserted, %d updated, %d deleted",
                             connection_id, report.pushed.inserted, report.pushed.updated,
                             report.pushed.deleted)
                if report.pushed.retryable is not None:
                    wait = self.writes.failed(connection_id, now, report.pushed.retryable)
                    errors.append(f"writing: {report.pushed.retryable.message}")
                    log.info("connection %d: writing to Google failed; next write in %.0f s",
                             connection_id, wait)
                else:
                    self.writes.succeeded(connection_id)
            report.error = "; ".join(errors) or None
            backing_off = (reading and not self.reads.ready(connection_id, now)) or (
                direction != "from_google" and not self.writes.ready(connection_id, now))
            # The last error stays shown while the side that failed backs off.
            self._note(connection_id, now, report.error, keep_error=backing_off)
        except ReconnectError as exc:
            self.apis.pop(connection_id, None)
            self._note(connection_id, now, exc.message, status="needs_reconnect")
            report.error = exc.message
        except QuotaError as exc:
            pause = max(QUOTA_PAUSE, dt.timedelta(seconds=exc.retry_after or 0))
            self._note(connection_id, now, exc.message, paused_until=now + pause)
            report.error = exc.message
        except BookingCalError as exc:
            self._note(connection_id, now, exc.message)
            report.error = exc.message
        finally:
            self.release(connection_id)
        return report

    def _backfill_budget(self, now: dt.datetime) -> int:
        """Existing bookings sent per pass while backfilling: google.backfill_per_minute spread
        over the passes of a minute (passes come every IDLE_WAIT seconds when idle)."""
        per_minute = self.runtime.config.google.backfill_per_minute
        return max(1, int(per_minute * IDLE_WAIT / 60)) if not self.unthrottled else per_minute

    def _note(self, connection_id: int, now: dt.datetime, error: str | None,
              status: str | None = None, paused_until: dt.datetime | None = None,
              keep_error: bool = False) -> None:
        with self.runtime.db.write() as session:
            connection = session.get(GoogleConnection, connection_id)
            if connection is None:
                return
            if error is None:
                if not keep_error:
                    connection.last_error = None
                if connection.status == "paused":
                    connection.status = "connected"
                connection.paused_until = None
            else:
                log.warning("Google connection %d: %s", connection_id, error)
                connection.last_error, connection.last_error_at = error, now
            if status is not None:
                connection.status = status
            if paused_until is not None:
                connection.status, connection.paused_until = "paused", paused_until

    def run_once(self, *, force_pull: bool = False) -> list[PassReport]:
        now = self.runtime.clock.now()
        restored.reconcile_new_epoch(self.runtime.db)
        with self.runtime.db.read() as session:
            ids = self.due(session, now) if not force_pull else list(session.execute(
                select(GoogleConnection.id).where(
                    GoogleConnection.status != "needs_reconnect")).scalars())
        return [self.work(connection_id, now, force_pull=force_pull) for connection_id in ids]

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, a pass every IDLE_WAIT seconds or as soon as the journal
        changes (PostgreSQL): a booking change reaches Google within about a second."""
        log.info("bridge %s started", self.worker)
        wakeup = JournalWakeup(self.runtime.db)
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                except BookingCalError as exc:
                    log.warning("bridge pass failed: %s", exc.message)
                # A journal change (PostgreSQL) starts the next pass at once; otherwise a pass
                # every IDLE_WAIT seconds, which also paces the backfill (_backfill_budget).
                wakeup.wait(IDLE_WAIT, stop)
        finally:
            wakeup.close()
        log.info("bridge %s stopped", self.worker)


def notified(session: Session, connection_id: int) -> bool:
    """Whether Google told us (push notification) that a read calendar changed."""
    return session.execute(select(GoogleReadState.id).where(
        GoogleReadState.connection_id == connection_id,
        GoogleReadState.pull_requested.is_(True))).first() is not None


def pending(session: Session, connection: GoogleConnection, now: dt.datetime) -> int:
    """Changes of the connection not yet sent to Google (see server/google/backlog.py)."""
    found = backlogs(session, now, [connection.id]).get(connection.id)
    return found.total if found is not None else 0
