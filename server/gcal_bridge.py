"""The bridge daemon's entry (`bookingcal bridge`): the provider-neutral sync engine
(server/sync/) driving every registered provider adapter (Google: server/google/; Microsoft Graph: server/microsoft/; CalDAV:
server/caldav/; ICS URLs: server/ics/).

Several bridge processes may run against one database (leases); a pass is idempotent, so a
killed bridge, restarted, converges without duplicates. See server/sync/README.md for the
engine/adapter contract."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.db.models import GoogleConnection
from server.sync.backlog import backlogs
from server.google.provider import ApiFactory, GoogleProvider
from server.ics.provider import IcsProvider
from server.caldav.provider import CalDAVProvider
from server.caldav.provider import ClientFactory as CalDAVClientFactory
from server.microsoft.provider import ClientFactory, MicrosoftProvider
from server.runtime import Runtime
from server.sync import leases
from server.sync.engine import Engine, PassReport
from server.sync.provider import Provider

__all__ = ["Bridge", "PassReport", "pending", "registered"]


def registered(runtime: Runtime, *, google_api: ApiFactory | None = None,
               microsoft_client: ClientFactory | None = None,
               caldav_client: CalDAVClientFactory | None = None) -> list[Provider]:
    """Every provider the bridge works, in order (a new provider is one more line here).
    Microsoft joins when it is configured ([microsoft] client_id and secret); CalDAV unless
    turned off ([caldav] enabled = false); ICS URL sources (server/ics/) always take part
    (a business without any costs one query a pass)."""
    providers: list[Provider] = [GoogleProvider(runtime, api_factory=google_api)]
    if runtime.config.microsoft.configured:
        providers.append(MicrosoftProvider(runtime, client_factory=microsoft_client))
    if runtime.config.caldav.enabled:
        providers.append(CalDAVProvider(runtime, client_factory=caldav_client))
    providers.append(IcsProvider(runtime))
    return providers


@dataclass
class Bridge(Engine):
    """The engine over every registered provider; `api_factory` replaces Google's client."""

    api_factory: ApiFactory | None = None

    def __post_init__(self) -> None:
        if not self.providers:
            self.providers = registered(self.runtime, google_api=self.api_factory)

    def acquire(self, connection_id: int, now: dt.datetime) -> bool:
        """Take the lease of a Google connection (server/sync/leases.py)."""
        return leases.acquire(self.runtime.db, GoogleConnection, connection_id, self.worker, now,
                              business_id=self.business_of(self.provider("google"),
                                                           connection_id))

    def release(self, connection_id: int) -> None:
        """Give back the lease of a Google connection."""
        leases.release(self.runtime.db, GoogleConnection, connection_id, self.worker,
                       business_id=self.business_of(self.provider("google"), connection_id))

    def due(self, session: Session, now: dt.datetime) -> list[int]:
        """Google connections with work (Engine.due_connections)."""
        return self.due_connections(self.provider("google"), session, now)

    def _backfill_budget(self, now: dt.datetime) -> int:
        """Existing bookings sent to Google per pass while backfilling."""
        return self.backfill_budget(self.provider("google"))

    def work(self, connection_id: int, now: dt.datetime, *, force_pull: bool = False,
             business_id: int | None = None) -> PassReport:
        """One pass over a Google connection (`google sync`, tests); `business_id`: its
        business, when known (else read once)."""
        return self.work_connection(self.provider("google"), connection_id, now,
                                    force_pull=force_pull, business_id=business_id)


def pending(session: Session, connection: GoogleConnection, now: dt.datetime) -> int:
    """Changes of the connection not yet sent to Google (see server/sync/backlog.py)."""
    found = backlogs(session, now, [connection.id], business_id=connection.business_id).get(
        connection.id)
    return found.total if found is not None else 0
