"""Waking the idle bridge when the journal changes.

On PostgreSQL a trigger on the journal (migration 0005) sends NOTIFY bookingcal_journal with
every change, whoever made it; the engine LISTENs on a connection of its own and starts its
next pass as soon as one arrives, so a booking change reaches every provider in about the time
of a pass. Without it (SQLite, or the listening connection lost) the bridge looks at the journal
every half second, which keeps the same promise (within 2 seconds) with more latency."""

from __future__ import annotations

import logging
import threading
from typing import Any

from server.db import Database

log = logging.getLogger(__name__)
CHANNEL = "bookingcal_journal"


class JournalWakeup:
    """Waits for a journal change (or the timeout, or `stop`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Any = None

    def _listen(self) -> Any:
        if self._connection is None and not self.db.is_sqlite:
            import psycopg

            url = self.db.engine.url.set(drivername="postgresql")
            try:
                connection = psycopg.connect(url.render_as_string(hide_password=False),
                                             autocommit=True)
                connection.execute(f"LISTEN {CHANNEL}")
            except psycopg.Error as exc:
                log.warning("cannot listen for journal changes (%s); polling instead",
                            type(exc).__name__)
                return None
            self._connection = connection
        return self._connection

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """True when a change was announced within `timeout` seconds."""
        connection = self._listen()
        if connection is None:
            stop.wait(timeout)
            return False
        import psycopg

        try:
            woke = any(True for _ in connection.notifies(timeout=timeout, stop_after=1))
            # Several changes may have been announced: one pass handles them all.
            while woke and any(True for _ in connection.notifies(timeout=0, stop_after=1)):
                pass
            return woke
        except psycopg.Error as exc:
            log.warning("listening for journal changes failed (%s); polling",
                        type(exc).__name__)
            self.close()
            stop.wait(timeout)
            return False

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
