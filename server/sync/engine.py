"""The provider-neutral sync engine: one pass loop over every registered provider and each of
its connections.

A pass over a connection: take its lease (server/sync/leases.py), read its remote calendars
when a read is due (its own poll interval, or the provider's, has passed since the last read
by any process, or a notification came), then send its changes. Reading and writing fail apart: a failing read never
holds back the writes (nor the reverse); each side that failed on a transient error backs off
on its own (server/sync/backoff.py). Refused credentials stop the connection ("needs
reconnecting") and an exhausted quota pauses it, on either side, at once (server/sync/health.py).
Nothing local is ever deleted because a provider failed. Once per restore epoch and provider,
copies are queued to be written again (server/sync/epoch.py). When idle, the engine waits for a
journal change (LISTEN/NOTIFY on PostgreSQL) or half a second (server/sync/wakeup.py)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.scope import get_of
from server.errors import BookingCalError
from server.runtime import Runtime
from server.sync import alerts, due, health, leases, reading, writing
from server.sync.backoff import Backoff
from server.sync.epoch import claim_new_epoch, unclaimed
from server.sync.errors import PauseError, ReconnectError
from server.sync.provider import Provider
from server.sync.reading import ReadReport
from server.sync.writing import WriteReport
from server.sync.wakeup import JournalWakeup

log = logging.getLogger(__name__)
PAUSE = dt.timedelta(hours=1)  # at least, after an exhausted quota
IDLE_WAIT = 0.5  # seconds between looks at the journal when idle
NOTIFY_EVERY = dt.timedelta(seconds=30)  # between runs of the health notifier


@dataclass
class PassReport:
    """What one pass over one connection did."""

    connection_id: int
    provider: str = ""
    pushed: WriteReport | None = None  # when it wrote
    pulled: ReadReport | None = None  # when it read
    error: str | None = None


@dataclass
class ProviderState:
    """The engine's memory of one provider's connections (in memory: a restart starts fresh)."""

    pulled_at: dict[int, dt.datetime] = field(default_factory=dict)
    reads: Backoff = field(default_factory=Backoff)
    writes: Backoff = field(default_factory=Backoff)
    # One client per connection, kept while its credentials stay: its access token is reused,
    # so an idle pass costs one list request per read calendar.
    clients: dict[int, tuple[str, Any]] = field(default_factory=dict)
    tracker: due.DueTracker = field(default_factory=due.DueTracker)  # the loop's quick looks
    # Connection id -> its business (a connection never changes business): what a pass names
    # in every statement (docs/scaling.md); filled by the looks, one query for the new ids.
    businesses: dict[int, int] = field(default_factory=dict)


@dataclass
class Engine:
    """Drives every provider in `providers`; several processes may run at once (leases)."""

    runtime: Runtime
    worker: str = field(default_factory=leases.worker_name)
    providers: list[Provider] = field(default_factory=list)
    unthrottled: bool = False  # a one-off sync: backfill a minute's worth per pass
    # Calls per read request: one, so a failing read costs one request a pass and never sleeps
    # in the loop (it backs off instead). None: the adapter's own retries.
    read_attempts: int | None = 1
    # Calls per write that failed in a batch: the batch and one retry alone; a write still
    # failing then backs off on its own item.
    write_attempts: int | None = 2
    # Connections worked at once by `run` on PostgreSQL (threads; each holds one database
    # connection while it works): a long pass over one never holds up the others.
    concurrency: int = 4
    # Events a read lists per calendar in one turn (server/sync/reading.py): a longer read
    # goes on at the next pass, so a huge first import never holds a thread for long.
    turn_items: int | None = reading.TURN_ITEMS
    states: dict[str, ProviderState] = field(default_factory=dict)
    notify_every: dt.timedelta = NOTIFY_EVERY
    next_notify: dt.datetime | None = None

    def state(self, provider: Provider) -> ProviderState:
        """The engine's memory of `provider`."""
        return self.states.setdefault(provider.name, ProviderState())

    def provider(self, name: str) -> Provider:
        """The registered provider called `name`."""
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise KeyError(name)

    def _client(self, provider: Provider, connection_id: int, credentials: str) -> Any:
        clients = self.state(provider).clients
        kept = clients.get(connection_id)
        if kept is not None and kept[0] == credentials:
            return kept[1]
        client = provider.client(credentials)
        clients[connection_id] = (credentials, client)
        return client

    def due_connections(self, provider: Provider, session: Session, now: dt.datetime, *,
                        quick: bool = False) -> list[int]:
        """Connections of `provider` with work: changes not yet sent, copies to rewrite, a
        notification, or a poll due. A full look reads every connection's rows (a constant
        number of queries); `quick` (the bridge's loop) reads only what changed since the last
        look between full looks (server/sync/due.py)."""
        state = self.state(provider)
        tracker, pulled_at = state.tracker, state.pulled_at

        def shared(session: Session, since: dt.datetime) -> None:
            self._count_shared_reads(provider, session, since)

        looked = due.quick_look(tracker, provider, session, now, shared) \
            if quick and not provider.lists_due else None
        if looked is None:
            looked = due.full_look(tracker, provider, session, now, shared)
        workable, wanted = looked
        own, unread = tracker.intervals, tracker.unread
        return sorted(connection_id for connection_id in workable
                      if connection_id in wanted or connection_id not in unread and (
                          connection_id not in pulled_at
                          or now - pulled_at[connection_id] >= own.get(
                              connection_id, provider.poll_interval)))

    def learn_businesses(self, provider: Provider, session: Session,
                         connection_ids: Sequence[int]) -> None:
        """Remember the business of each of `connection_ids` not yet known (one query for
        them all, none when all are known): the pass over a connection names it. The loop
        asks it after each look, for the connections found due."""
        businesses = self.state(provider).businesses
        unknown = sorted({i for i in connection_ids if i not in businesses})
        table = provider.connections
        for start in range(0, len(unknown), 1000):
            businesses.update((row[0], row[1]) for row in session.execute(
                select(table.id, table.business_id).where(
                    table.id.in_(unknown[start:start + 1000]))))

    def business_of(self, provider: Provider, connection_id: int) -> int | None:
        """The business of a connection (None: gone): remembered, else one query."""
        businesses = self.state(provider).businesses
        if connection_id not in businesses:
            with self.runtime.db.read() as session:
                self.learn_businesses(provider, session, [connection_id])
        return businesses.get(connection_id)

    def _count_shared_reads(self, provider: Provider, session: Session, since: dt.datetime,
                            connection_id: int | None = None,
                            business_id: int | None = None) -> None:
        """Reads done by any bridge process count here too: a connection another process read
        (its `last_sync_at`, after `since`) is not read again by this one within its poll
        interval. Without it, every process of a fleet reads every connection once per
        interval. One query (of every connection, or of `connection_id` of `business_id`)."""
        table, pulled_at = provider.connections, self.state(provider).pulled_at
        query = select(table.id, table.last_sync_at).where(table.last_sync_at > since)
        if connection_id is not None:
            query = query.where(table.business_id == business_id, table.id == connection_id)
        for found, synced in session.execute(query):
            if found not in pulled_at or pulled_at[found] < synced:
                pulled_at[found] = synced

    def work_connection(self, provider: Provider, connection_id: int, now: dt.datetime, *,
                        force_pull: bool = False, business_id: int | None = None
                        ) -> PassReport:
        """One pass over a connection (see the module's docstring). Every statement of the
        pass names the connection's business, `business_id` (docs/scaling.md: one shard on a
        cluster); when not given (a one-off sync), it is read first (remembered after)."""
        report = PassReport(connection_id, provider.name)
        state = self.state(provider)
        table, label = provider.connections, provider.label
        business = business_id if business_id is not None \
            else self.business_of(provider, connection_id)
        if business is None:  # gone
            state.tracker.forget(connection_id)
            return report
        if not leases.acquire(self.runtime.db, table, connection_id, self.worker, now,
                              business_id=business):
            # Leased by another process, or gone (on SQLite a new row may take a deleted
            # row's id, in another business): the next look reads its business again.
            state.businesses.pop(connection_id, None)
            return report
        try:
            with self.runtime.db.read() as session:
                connection = provider.connection(session, connection_id, business_id=business)
                if connection is not None:  # read by another process since this pass began?
                    every = connection.poll_interval or provider.poll_interval
                    self._count_shared_reads(provider, session, now - every, connection_id,
                                             business)
                    # The row `connection` loaded (the session's identity map: no query).
                    paused = getattr(get_of(session, table, business, connection_id),
                                     "paused_until", None)
                    if paused is not None and paused > now and not force_pull:  # by another
                        connection = None
            if connection is None:
                state.tracker.forget(connection_id)
                state.businesses.pop(connection_id, None)
                return report
            state.tracker.reads(connection_id, connection.reads)  # none: no polls
            pulled = state.pulled_at.get(connection_id)
            pull_due = force_pull or pulled is None or now - pulled >= every \
                or connection.notified
            client = self._client(provider, connection_id, connection.credentials)
            errors: list[str] = []
            if pull_due and connection.reads and (force_pull or state.reads.ready(
                    connection_id, now)):
                try:
                    report.pulled = self._read(provider, client, business, connection_id, now)
                except (ReconnectError, PauseError):
                    raise
                except BookingCalError as exc:
                    wait = state.reads.failed(connection_id, now, exc)
                    errors.append(f"reading: {exc.message}")
                    log.info("connection %d: reading %s failed; next read in %.0f s",
                             connection_id, label, wait)
            if connection.writes and (force_pull or state.writes.ready(connection_id, now)):
                report.pushed = pushed = writing.write(
                    self.runtime.db, provider, client, provider.copy_secret, connection_id, now,
                    self.backfill_budget(provider), self.write_attempts, business_id=business)
                self._wrote(provider, connection_id, now, pushed, errors)
            report.error = "; ".join(errors) or None
            backing_off = (connection.reads and not state.reads.ready(connection_id, now)) or (
                connection.writes and not state.writes.ready(connection_id, now))
            # The last error stays shown while the side that failed backs off.
            health.note(self.runtime.db, table, connection_id, now, report.error, label=label,
                        keep_error=backing_off, business_id=business)
        except ReconnectError as exc:
            state.clients.pop(connection_id, None)
            health.note(self.runtime.db, table, connection_id, now, exc.message, label=label,
                        status=health.NEEDS_RECONNECT, business_id=business)
            report.error = exc.message
        except PauseError as exc:
            pause = max(PAUSE, dt.timedelta(seconds=exc.retry_after or 0))
            health.note(self.runtime.db, table, connection_id, now, exc.message, label=label,
                        paused_until=now + pause, business_id=business)
            report.error = exc.message
        except BookingCalError as exc:
            health.note(self.runtime.db, table, connection_id, now, exc.message, label=label,
                        business_id=business)
            report.error = exc.message
        finally:
            leases.release(self.runtime.db, table, connection_id, self.worker,
                           business_id=business)
            kept = state.clients.get(connection_id)
            if kept is not None and hasattr(kept[1], "close_idle"):
                # Its token stays; its sockets go (a bridge of thousands of connections kept
                # one open per connection: 3,800 descriptors at 5,000 businesses).
                kept[1].close_idle()
        return report

    def _read(self, provider: Provider, client: Any, business_id: int, connection_id: int,
              now: dt.datetime) -> ReadReport:
        """One turn of reading the connection (server/sync/reading.py); a one-off sync
        (`unthrottled`) goes on turn after turn, its lease extended, until every calendar is
        read to its end."""
        state = self.state(provider)

        def turn(at: dt.datetime) -> ReadReport:
            return reading.read(self.runtime.db, provider, client, connection_id, at,
                                rules=self.runtime.config.availability,
                                id_secret=provider.copy_secret, attempts=self.read_attempts,
                                business_id=business_id, turn_items=self.turn_items)

        outcome = turn(now)
        while self.unthrottled and outcome.continuing:
            at = self.runtime.clock.now()
            if not leases.acquire(self.runtime.db, provider.connections, connection_id,
                                  self.worker, at, business_id=business_id):
                break
            outcome = outcome.then(turn(at))
        state.pulled_at[connection_id] = now
        state.reads.succeeded(connection_id)
        provider.subscribe(client, connection_id, now, business_id=business_id)
        return outcome

    def _wrote(self, provider: Provider, connection_id: int, now: dt.datetime,
               pushed: WriteReport, errors: list[str]) -> None:
        writes = self.state(provider).writes
        if pushed.writes:  # counts only: no event content in logs
            log.info("connection %d: to %s %d inserted, %d updated, %d deleted",
                     connection_id, provider.label, pushed.inserted, pushed.updated,
                     pushed.deleted)
        if pushed.retryable is not None:
            wait = writes.failed(connection_id, now, pushed.retryable)
            errors.append(f"writing: {pushed.retryable.message}")
            log.info("connection %d: writing to %s failed; next write in %.0f s",
                     connection_id, provider.label, wait)
        else:
            writes.succeeded(connection_id)

    def backfill_budget(self, provider: Provider) -> int:
        """Existing items sent per pass while backfilling: the provider's backfill_per_minute
        spread over the passes of a minute (a pass every IDLE_WAIT seconds when idle)."""
        per_minute = provider.backfill_per_minute
        return max(1, int(per_minute * IDLE_WAIT / 60)) if not self.unthrottled else per_minute

    def run_once(self, *, force_pull: bool = False, only: Sequence[str] | None = None,
                 quick: bool = False) -> list[PassReport]:
        """One pass over every provider's connections that have work (all, with
        `force_pull`); `only` names the providers to work; `quick`: the loop's quick looks
        between full ones (`due_connections`)."""
        now = self.runtime.clock.now()
        reports: list[PassReport] = []
        chosen = [provider for provider in self.providers
                  if only is None or provider.name in only]
        self._claim_epochs(chosen)
        for provider in chosen:
            with self.runtime.db.read() as session:
                ids = self.due_connections(provider, session, now, quick=quick) \
                    if not force_pull else list(
                    session.execute(select(provider.connections.id).where(
                        provider.connections.status != health.NEEDS_RECONNECT)).scalars())
                self.learn_businesses(provider, session, ids)
            businesses = self.state(provider).businesses
            reports.extend(self.work_connection(provider, connection_id, now,
                                                force_pull=force_pull,
                                                business_id=businesses.get(connection_id))
                           for connection_id in ids)
        return reports

    def _claim_epochs(self, providers: Sequence[Provider]) -> None:
        """Once per restore epoch and provider, the copies are queued again and the cursors
        forgotten (server/sync/epoch.py); when nothing was restored, one statement a pass for
        every provider."""
        due = unclaimed(self.runtime.db, [f"{provider.name}_epoch" for provider in providers])
        for provider in providers:
            if f"{provider.name}_epoch" in due:
                claim_new_epoch(self.runtime.db, f"{provider.name}_epoch",
                                provider.reconcile_epoch)

    def notify(self) -> alerts.RunReport | None:
        """Run the health notifier (server/sync/alerts.py) when its time has come: one
        process at a time (its own lease), every `notify_every`."""
        now = self.runtime.clock.now()
        if self.next_notify is not None and now < self.next_notify:
            return None
        self.next_notify = now + self.notify_every
        return alerts.run(self.runtime, self.worker, now)

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, a pass every IDLE_WAIT seconds or as soon as the journal
        changes (PostgreSQL): a booking change reaches every provider within about a second.

        On PostgreSQL the connections of a pass are worked by `concurrency` threads, and a
        connection still being worked (a first import of a huge calendar, a slow provider) is
        not waited for: the next pass goes on with the others (fair sharing: one business's
        backlog does not delay the rest). SQLite, one writer at a time, works them in turn."""
        log.info("bridge %s started", self.worker)
        wakeup = JournalWakeup(self.runtime.db)
        threads = 1 if self.runtime.db.is_sqlite else max(1, self.concurrency)
        pool = ThreadPoolExecutor(threads, thread_name_prefix="bridge") if threads > 1 else None
        working: dict[tuple[str, int], Future[PassReport]] = {}
        try:
            while not stop.is_set():
                try:
                    if pool is None:
                        self.run_once(quick=True)
                    else:
                        self._schedule(pool, working)
                    self.notify()
                except BookingCalError as exc:
                    log.warning("bridge pass failed: %s", exc.message)
                # A journal change (PostgreSQL) starts the next pass at once; otherwise a pass
                # every IDLE_WAIT seconds, which also paces the backfill (backfill_budget).
                wakeup.wait(IDLE_WAIT, stop)
        finally:
            wakeup.close()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        log.info("bridge %s stopped", self.worker)

    def _schedule(self, pool: ThreadPoolExecutor,
                  working: dict[tuple[str, int], Future[PassReport]]) -> None:
        """One pass of `run` on PostgreSQL: every due connection not already queued or being
        worked is handed to the pool; none is waited for."""
        for key in [key for key, future in working.items() if future.done()]:
            failure = working.pop(key).exception()
            if isinstance(failure, BookingCalError):
                log.warning("bridge pass over connection %d failed: %s", key[1],
                            failure.message)
            elif failure is not None:
                raise failure  # a bug: the process stops, as a failing run_once stops it
        now = self.runtime.clock.now()
        self._claim_epochs(self.providers)
        for provider in self.providers:
            with self.runtime.db.read() as session:
                ids = self.due_connections(provider, session, now, quick=True)
                self.learn_businesses(provider, session, ids)
            for connection_id in ids:
                key = (provider.name, connection_id)
                if key not in working:
                    working[key] = pool.submit(self._work_now, provider, connection_id,
                                               self.state(provider).businesses.get(
                                                   connection_id))

    def _work_now(self, provider: Provider, connection_id: int,
                  business_id: int | None) -> PassReport:
        """`work_connection` at the time it starts (it may have waited in the queue)."""
        return self.work_connection(provider, connection_id, self.runtime.clock.now(),
                                    business_id=business_id)
