"""Prometheus figures of sync health, read from the database at each scrape of /metrics:
`bookingcal_sync_items{provider, kind, state}` — how many connections (kind="connection") and
remote calendars (kind="reading"/"writing") are in each state. Counts only: no business, no
account, no calendar name. Every provider, kind and state is always present (0 included) so
that an alert rule sees the series. The database counts (server/sync/state_counts.py): the
scrape's cost does not grow with the number of businesses or connections.
`bookingcal_sync_notification_mail{state}`: notification e-mails about sync problems waiting
for another try after a failure (state="retrying") and those the SMTP server never took after
every try (state="failed": nobody was told; server/sync/alerts.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from server.errors import BookingCalError
from server.runtime import Runtime
from server.sync.freshness import STATES
from server.sync.sources import kinds
from server.sync.alerts import mail_counts
from server.sync.state_counts import CONNECTION, READING, WRITING, counts

log = logging.getLogger(__name__)


class SyncHealthCollector(Collector):
    """Registered on the web server's metrics registry (server/app.py)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "bookingcal_sync_items", "Connections and synced remote calendars by provider, "
            "kind (connection, reading, writing) and state (ok, stale, needs_reconnecting, "
            "error)", labels=["provider", "kind", "state"])
        mail = GaugeMetricFamily(
            "bookingcal_sync_notification_mail", "Notification e-mails about sync health "
            "waiting to be tried again (retrying) or never delivered (failed)",
            labels=["state"])
        try:
            with self.runtime.db.read() as session:
                found = counts(session, self.runtime.config, self.runtime.clock.now())
                retrying, failed = mail_counts(session)
        except (BookingCalError, SQLAlchemyError) as exc:
            log.warning("sync health metrics not read: %s", type(exc).__name__)
            return
        for kind in kinds():
            for role in (CONNECTION, READING, WRITING):
                for state in STATES:
                    family.add_metric([kind.name, role, state],
                                      float(found.get((kind.name, role, state), 0)))
        yield family
        mail.add_metric(["retrying"], float(retrying))
        mail.add_metric(["failed"], float(failed))
        yield mail
