"""The CalDAV adapter of the sync engine (server/sync/provider.py): iCloud, Fastmail,
Nextcloud, Baikal, Radicale, Xandikos and any CalDAV server, two-way. Reading is
server/caldav/pull.py (sync-collection, or ETag polling), writing server/caldav/push.py
(conditional PUTs of our named resources), the client and its error classification
server/caldav/client.py, the requests server/caldav/dav.py, accounts and calendars
server/caldav/connections.py and server/caldav/discovery.py. CalDAV has no push: every
connection is polled at its own interval (server/caldav/intervals.py: its setting, else
caldav.poll_seconds), a cheap check first (the sync token, or the collection's ctag)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.caldav import connections, copies, discovery, intervals, owner
from server.caldav.client import CalDAVClient, guard_for
from server.caldav.pull import CalDAVLister
from server.caldav.push import CalDAVWriter
from server.db.models import CalDAVConnection, CalDAVCopy, CalDAVReadState
from server.db.scope import get_of, of_connection
from server.runtime import Runtime
from server.sync import health
from server.sync.workable import SendingConnections
from server.sync.errors import SyncError
from server.sync.provider import ConnectionView
from server.sync.reading import WHOLE_HISTORY
from server.sync.tables import CALDAV, Tables

ClientFactory = Callable[[Runtime, str], CalDAVClient]
log = logging.getLogger(__name__)


def make_client(runtime: Runtime, credentials: str) -> CalDAVClient:
    """The client of one connection from its credentials (server/caldav/connections.py)."""
    found = json.loads(credentials)
    user = str(found["user"])
    addresses = found.get("addresses")
    known = isinstance(addresses, list)
    return CalDAVClient(str(found["home"]), user, str(found["password"]),
                        timeout=runtime.config.caldav.timeout_seconds,
                        addresses=owner.owner_addresses(
                            [str(a) for a in addresses] if known else None, user),
                        addresses_known=known,
                        guard=guard_for(runtime.config.caldav))


@dataclass
class CalDAVProvider(CalDAVLister, CalDAVWriter, SendingConnections):
    """The adapter for every CalDAV connection of one runtime."""

    runtime: Runtime
    client_factory: ClientFactory | None = None  # tests: a client whose retries never sleep
    name: str = "caldav"
    label: str = "CalDAV"
    connections: type[CalDAVConnection] = CalDAVConnection
    tables: Tables = CALDAV

    def now(self) -> dt.datetime:
        """The runtime's clock (the read window follows it)."""
        return self.runtime.clock.now()

    @property
    def poll_interval(self) -> dt.timedelta:
        return intervals.poll_interval(self.runtime.config.caldav, None)

    def poll_intervals(self, session: Session) -> dict[int, dt.timedelta]:
        """The accounts given an interval of their own (within the configured bounds)."""
        settings = self.runtime.config.caldav
        return {connection_id: intervals.poll_interval(settings, own)
                for connection_id, own in session.execute(
                    select(CalDAVConnection.id, CalDAVConnection.poll_seconds).where(
                        CalDAVConnection.poll_seconds.is_not(None)))}

    @property
    def backfill_per_minute(self) -> int:
        return self.runtime.config.caldav.backfill_per_minute

    def connection(self, session: Session, connection_id: int, *,
                   business_id: int) -> ConnectionView | None:
        row = get_of(session, CalDAVConnection, business_id, connection_id)
        if row is None or row.status == health.NEEDS_RECONNECT:
            return None
        notified = session.execute(select(CalDAVReadState.id).where(
            of_connection(CalDAVReadState, row),
            CalDAVReadState.pull_requested.is_(True))).first() is not None
        return ConnectionView(
            id=connection_id, credentials=connections.credentials(self.runtime.keyring, row),
            reads=connections.reads(row), writes=row.direction != CALDAV.read_only,
            notified=notified,
            poll_interval=intervals.poll_interval(self.runtime.config.caldav, row.poll_seconds))

    @property
    def copy_secret(self) -> bytes:
        return copies.key_secret(self.runtime.keyring)

    def client(self, credentials: str) -> CalDAVClient:
        if self.client_factory is not None:
            return self.client_factory(self.runtime, credentials)
        return make_client(self.runtime, credentials)

    def subscribe(self, client: CalDAVClient, connection_id: int, now: dt.datetime, *,
                  business_id: int) -> int:
        """CalDAV has no push subscriptions: polling only. After a read, an account connected
        before its calendar user addresses were discovered has them asked once (two PROPFINDs;
        a failure leaves it for a later read) and stored; when they change who the owner is,
        its calendars are read again in full, so that its answers already mirrored count."""
        if client.addresses_known:
            return 0
        try:
            found = discovery.addresses_of(client)
        except SyncError as exc:
            log.info("the calendar user addresses of CalDAV account %d could not be read "
                     "(%s); asked again after a later read", connection_id, exc.status)
            return 0
        with self.runtime.db.write() as session:
            row = get_of(session, CalDAVConnection, business_id, connection_id)
            if row is None:
                return 0
            before = owner.owner_addresses(owner.load(row.addresses), row.username)
            row.addresses = owner.stored(found or [])
            after = owner.owner_addresses(found, row.username)
            if after != before:
                session.execute(update(CalDAVReadState).where(
                    of_connection(CalDAVReadState, row)).values(sync_token=None))
        client.addresses, client.addresses_known = after, True
        return 0

    def reconcile_epoch(self, session: Session) -> None:
        """After a restore: every copy written again, every calendar read again in full."""
        session.execute(update(CalDAVCopy).where(
            CalDAVCopy.deleted.is_(False)).values(sent_seq=-1))
        session.execute(update(CalDAVReadState).values(sync_token=WHOLE_HISTORY))
