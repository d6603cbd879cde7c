"""The bridge daemon (`bookingcal bridge`): mirrors bookings to Google and Google events back,
for every connected business.

Several bridge processes may run against one database: a process works a connection only while
it holds the connection's lease (a row update that succeeds for one process at a time), so
scaling out never double-writes. A pass is idempotent: killed at any moment, a restarted bridge
converges without duplicates (deterministic event ids, positions saved after the writes).
Errors are classified once (server/google/api.py): an invalid grant marks the connection as
needing reconnection and stops calling Google, quota pauses it for a while, transient errors
are retried on the next pass; nothing local is ever deleted because Google failed.
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

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from server.db.models import (
    Calendar, GoogleCalendarMap, GoogleConnection, GoogleCopy, GoogleReadState,
)
from server.errors import BookingCalError
from server.google import channels
from server.google import pull as pulling
from server.google import restored
from server.google import push as pushing
from server.google.api import GoogleCalendarApi, QuotaError, ReconnectError
from server.runtime import Runtime

log = logging.getLogger(__name__)
LEASE = dt.timedelta(seconds=120)
QUOTA_PAUSE = dt.timedelta(hours=1)
IDLE_WAIT = 0.5  # seconds between looks at the journal when idle


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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

    def _api(self, refresh_token: str) -> GoogleCalendarApi:
        if self.api_factory is not None:
            return self.api_factory(self.runtime, refresh_token)
        return GoogleCalendarApi(self.runtime.config.google, refresh_token)

    # --- leases -----------------------------------------------------------------------------

    def acquire(self, connection_id: int, now: dt.datetime) -> bool:
        with self.runtime.db.write() as session:
            result = session.execute(update(GoogleConnection).where(
                GoogleConnection.id == connection_id,
                or_(GoogleConnection.lease_owner.is_(None),
                    GoogleConnection.lease_owner == self.worker,
                    GoogleConnection.lease_until < now)).values(
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
        """Connections with work: changes not yet sent, copies to rewrite, or a poll due."""
        found = []
        poll = dt.timedelta(seconds=self.runtime.config.google.poll_seconds)
        for connection in session.execute(select(GoogleConnection).where(
                GoogleConnection.status != "needs_reconnect")).scalars():
            if connection.paused_until is not None and connection.paused_until > now:
                continue
            pulled = self.pulled_at.get(connection.id)
            if pulled is None or now - pulled >= poll or pending(session, connection) > 0 \
                    or notified(session, connection.id):
                found.append(connection.id)
        return found

    def work(self, connection_id: int, now: dt.datetime, *, force_pull: bool = False
             ) -> PassReport:
        report = PassReport(connection_id)
        if not self.acquire(connection_id, now):
            return report
        try:
            with self.runtime.db.read() as session:
                connection = session.get(GoogleConnection, connection_id)
                if connection is None or connection.status == "needs_reconnect":
                    return report
                token = self.runtime.keyring.decrypt(connection.refresh_token_encrypted)
                direction, blocking = connection.direction, connection.block_online_booking
                pull_due = force_pull or connection_id not in self.pulled_at or \
                    now - self.pulled_at[connection_id] >= dt.timedelta(
                        seconds=self.runtime.config.google.poll_seconds) \
                    or notified(session, connection_id)
            api = self._api(token)
            reading = direction != "to_google" or blocking
            if pull_due and reading:
                report.pulled = pulling.pull(self.runtime.db, api, connection_id, now,
                                             pushing.id_secret(self.runtime.keyring))
                self.pulled_at[connection_id] = now
                with self.runtime.db.write() as session:
                    channels.renew(session, self.runtime.keyring, self.runtime.config, api,
                                   connection_id, now)
            if direction != "from_google":
                report.pushed = pushing.push(self.runtime.db, self.runtime.keyring, api,
                                             connection_id, now, self._backfill_budget(now))
                if report.pushed.writes:  # counts only: no event content in logs
                    log.info("connection %d: to Google %d inserted, %d updated, %d deleted",
                             connection_id, report.pushed.inserted, report.pushed.updated,
                             report.pushed.deleted)
            self._note(connection_id, now, None)
        except ReconnectError as exc:
            self._note(connection_id, now, exc.message, status="needs_reconnect")
            report.error = exc.message
        except QuotaError as exc:
            self._note(connection_id, now, exc.message, paused_until=now + QUOTA_PAUSE)
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
              status: str | None = None, paused_until: dt.datetime | None = None) -> None:
        with self.runtime.db.write() as session:
            connection = session.get(GoogleConnection, connection_id)
            if connection is None:
                return
            if error is None:
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
        """Work until `stop` is set, a pass every IDLE_WAIT seconds: a booking change reaches
        Google within about a second."""
        log.info("bridge %s started", self.worker)
        while not stop.is_set():
            try:
                self.run_once()
            except BookingCalError as exc:
                log.warning("bridge pass failed: %s", exc.message)
            stop.wait(IDLE_WAIT)  # also paces the backfill (see _backfill_budget)
        log.info("bridge %s stopped", self.worker)


def notified(session: Session, connection_id: int) -> bool:
    """Whether Google told us (push notification) that a read calendar changed."""
    return session.execute(select(GoogleReadState.id).where(
        GoogleReadState.connection_id == connection_id,
        GoogleReadState.pull_requested.is_(True))).first() is not None


def pending(session: Session, connection: GoogleConnection) -> int:
    """Journal entries of mapped calendars not yet sent, plus copies waiting to be rewritten."""
    if connection.direction == "from_google":
        return 0
    behind = session.execute(select(func.coalesce(func.sum(
        Calendar.journal_seq - GoogleCalendarMap.sent_seq), 0)).select_from(
        GoogleCalendarMap).join(Calendar, Calendar.id == GoogleCalendarMap.calendar_id).where(
        GoogleCalendarMap.connection_id == connection.id)).scalar_one()
    unsent = session.execute(select(func.count()).select_from(GoogleCalendarMap).where(
        GoogleCalendarMap.connection_id == connection.id,
        GoogleCalendarMap.backfilled.is_(False))).scalar_one()
    stale = session.execute(select(func.count()).select_from(GoogleCopy).where(
        GoogleCopy.connection_id == connection.id, GoogleCopy.deleted.is_(False),
        or_(GoogleCopy.sent_seq < 0,
            GoogleCopy.sent_version != connection.copy_version))).scalar_one()
    return int(behind) + int(unsent) + int(stale)

