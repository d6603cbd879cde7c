"""The Google Calendar adapter of the sync engine (server/sync/provider.py): how the engine
reaches a Google connection. Reading is server/google/pull.py (one events.list page, a 410 as
an expired cursor, events parsed into the engine's terms), writing server/google/push.py
(event bodies, deterministic ids, batches of 50, 404/409/410 resolved), push channels
server/google/channels.py, errors classified by server/google/api.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import GoogleConnection, GoogleReadState
from server.db.scope import business_beside, get_of
from server.google import channels, restored, settings
from server.google import push as pushing
from server.google.api import GoogleCalendarApi
from server.google.pull import GoogleLister
from server.google.push import GoogleWriter
from server.runtime import Runtime
from server.sync import health
from server.sync.workable import SendingConnections
from server.sync.provider import ConnectionView
from server.sync.tables import GOOGLE, Tables

ApiFactory = Callable[[Runtime, str], GoogleCalendarApi]


@dataclass
class GoogleProvider(GoogleLister, GoogleWriter, SendingConnections):
    """The adapter for every Google connection of one runtime; reading is GoogleLister's,
    writing GoogleWriter's."""

    runtime: Runtime
    api_factory: ApiFactory | None = None  # tests: a client whose retries never sleep
    name: str = "google"
    label: str = "Google"
    connections: type[GoogleConnection] = GoogleConnection
    tables: Tables = GOOGLE

    @property
    def poll_interval(self) -> dt.timedelta:
        """google.poll_seconds."""
        return dt.timedelta(seconds=self.runtime.config.google.poll_seconds)

    def poll_intervals(self, session: Session) -> dict[int, dt.timedelta]:
        return {}  # every connection on poll_interval

    @property
    def backfill_per_minute(self) -> int:
        """google.backfill_per_minute."""
        return self.runtime.config.google.backfill_per_minute

    def connection(self, session: Session, connection_id: int, *,
                   business_id: int) -> ConnectionView | None:
        """The connection's token, directions and whether a notification asked for a read."""
        connection = get_of(session, GoogleConnection, business_id, connection_id)
        if connection is None or connection.status == health.NEEDS_RECONNECT:
            return None
        return ConnectionView(
            id=connection_id,
            credentials=self.runtime.keyring.decrypt(connection.refresh_token_encrypted),
            reads=settings.reads(connection), writes=connection.direction != "from_google",
            notified=notified(session, connection_id, business_id))

    @property
    def copy_secret(self) -> bytes:
        """The key of our event ids (server/google/push.py's id_secret)."""
        return pushing.id_secret(self.runtime.keyring)

    def client(self, credentials: str) -> GoogleCalendarApi:
        """The Google client of a connection's refresh token."""
        if self.api_factory is not None:
            return self.api_factory(self.runtime, credentials)
        return GoogleCalendarApi(self.runtime.config.google, credentials)


    def subscribe(self, client: GoogleCalendarApi, connection_id: int, now: dt.datetime, *,
                  business_id: int) -> int:
        """Open or renew push channels (server/google/channels.py)."""
        return channels.renew(self.runtime.db, self.runtime.keyring, self.runtime.config,
                              client, connection_id, now, business_id=business_id)


    def reconcile_epoch(self, session: Session) -> None:
        """Every copy written again, every calendar read again (server/google/restored.py)."""
        restored.reconcile(session)


def notified(session: Session, connection_id: int, business_id: int) -> bool:
    """Whether Google told us (push notification) that a read calendar changed."""
    return session.execute(select(GoogleReadState.id).where(
        business_beside(GoogleReadState, business_id),
        GoogleReadState.connection_id == connection_id,
        GoogleReadState.pull_requested.is_(True))).first() is not None
