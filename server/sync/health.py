"""A connection's health as the engine records it on the provider's connection row (columns
`status` in connected / needs_reconnect / paused, `paused_until`, `last_error`,
`last_error_at`): what status pages, the JSON API and the admin pages show."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from server.db import Database
from server.db.scope import get_of

log = logging.getLogger(__name__)
CONNECTED, NEEDS_RECONNECT, PAUSED = "connected", "needs_reconnect", "paused"


def note(db: Database, table: type[Any], connection_id: int, now: dt.datetime,
         error: str | None, *, label: str, status: str | None = None,
         paused_until: dt.datetime | None = None, keep_error: bool = False,
         business_id: int | None = None) -> None:
    """Record a pass's outcome: an error (shown until a pass without one, or kept while the
    side that failed backs off), a new status, a pause; a clean pass ends a pause.
    `business_id`: the connection's business, named by the statements (None: read by id
    alone)."""
    with db.write() as session:
        connection = get_of(session, table, business_id, connection_id)
        if connection is None:
            return
        if error is None:
            if not keep_error:
                connection.last_error = None
            if connection.status == PAUSED:
                connection.status = CONNECTED
            connection.paused_until = None
        else:
            log.warning("%s connection %d: %s", label, connection_id, error)
            connection.last_error, connection.last_error_at = error, now
        if status is not None:
            connection.status = status
        if paused_until is not None:
            connection.status, connection.paused_until = PAUSED, paused_until
