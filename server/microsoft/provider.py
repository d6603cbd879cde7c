"""The Microsoft Graph adapter of the sync engine (server/sync/provider.py): Microsoft 365 and
Outlook.com accounts. Reading is server/microsoft/pull.py (calendarView/delta), writing
server/microsoft/push.py ($batch of 20, transactionId, If-Match), the client and its error
classification server/microsoft/graph.py, change notifications server/microsoft/subscriptions.py
(polling every microsoft.poll_seconds stays the fallback)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db.models import MicrosoftConnection, MicrosoftCopy, MicrosoftReadState
from server.db.scope import get_of, of_connection
from server.microsoft import connections, copies, subscriptions
from server.microsoft.graph import GraphClient
from server.microsoft.pull import MicrosoftLister
from server.microsoft.push import MicrosoftWriter
from server.runtime import Runtime
from server.sync import health
from server.sync.workable import SendingConnections
from server.sync.provider import ConnectionView
from server.sync.reading import WHOLE_HISTORY
from server.sync.tables import MICROSOFT, Tables

ClientFactory = Callable[[Runtime, str], GraphClient]


@dataclass
class MicrosoftProvider(MicrosoftLister, MicrosoftWriter, SendingConnections):
    """The adapter for every Microsoft connection of one runtime."""

    runtime: Runtime
    client_factory: ClientFactory | None = None  # tests: a client whose retries never sleep
    name: str = "microsoft"
    label: str = "Microsoft"
    connections: type[MicrosoftConnection] = MicrosoftConnection
    tables: Tables = MICROSOFT

    def now(self) -> dt.datetime:
        """The runtime's clock (the read window follows it)."""
        return self.runtime.clock.now()

    @property
    def poll_interval(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.runtime.config.microsoft.poll_seconds)

    def poll_intervals(self, session: Session) -> dict[int, dt.timedelta]:
        return {}  # every connection on poll_interval

    @property
    def backfill_per_minute(self) -> int:
        return self.runtime.config.microsoft.backfill_per_minute

    def connection(self, session: Session, connection_id: int, *,
                   business_id: int) -> ConnectionView | None:
        row = get_of(session, MicrosoftConnection, business_id, connection_id)
        if row is None or row.status == health.NEEDS_RECONNECT:
            return None
        notified = session.execute(select(MicrosoftReadState.id).where(
            of_connection(MicrosoftReadState, row),
            MicrosoftReadState.pull_requested.is_(True))).first() is not None
        return ConnectionView(
            id=connection_id,
            credentials=self.runtime.keyring.decrypt(row.refresh_token_encrypted),
            reads=connections.reads(row), writes=row.direction != MICROSOFT.read_only,
            notified=notified)

    @property
    def copy_secret(self) -> bytes:
        return copies.key_secret(self.runtime.keyring)

    def client(self, credentials: str) -> GraphClient:
        if self.client_factory is not None:
            return self.client_factory(self.runtime, credentials)
        return GraphClient(self.runtime.config.microsoft, credentials)

    def subscribe(self, client: GraphClient, connection_id: int, now: dt.datetime, *,
                  business_id: int) -> int:
        """Open or renew change-notification subscriptions (server/microsoft/subscriptions.py)."""
        return subscriptions.renew(self.runtime.db, self.runtime.keyring, self.runtime.config,
                                   client, connection_id, now, business_id=business_id)

    def reconcile_epoch(self, session: Session) -> None:
        """After a restore: every copy written again, every calendar read again in full."""
        session.execute(update(MicrosoftCopy).where(
            MicrosoftCopy.deleted.is_(False)).values(sent_seq=-1))
        session.execute(update(MicrosoftReadState).values(sync_token=WHOLE_HISTORY))
