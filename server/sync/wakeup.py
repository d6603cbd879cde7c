"""Waking the idle bridge when the journal changes.

On PostgreSQL a trigger on the journal (migration 0005) sends NOTIFY bookingcal_journal with
every change, whoever made it; the engine LISTENs on a connection of its own and starts its
next pass as soon as one arrives, so a booking change reaches every provider in about the time
of a pass. Without it (SQLite, or the listening connection lost) the bridge looks at the journal
every half second, which keeps the same promise (within 2 seconds) with more latency.

LISTEN belongs to a session: through a transaction-pooling PgBouncer the server connection that
listened goes back to the pool after the statement and the notifications go to whoever holds it
next. So the listener connects to `db.direct_url` (`[database] direct_url`, PostgreSQL itself),
never to the pooler; `listen_url` says so, and a listener that finds itself talking through some
port forwarder or pooler anyway (the server's port is not the one dialled) says what to change."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import make_url

from server.db import Database

log = logging.getLogger(__name__)
CHANNEL = "bookingcal_journal"


def listen_url(db: Database) -> str:
    """The libpq URL the listener connects to: PostgreSQL itself (`direct_url` when the database
    is reached through a transaction pooler)."""
    if db.is_sqlite:
        raise ValueError("SQLite has no LISTEN: the bridge polls the journal instead")
    if db.pooled and db.direct_url == db.url:
        raise ValueError("LISTEN cannot work through a transaction pooler: set [database] "
                         "direct_url to PostgreSQL itself (not PgBouncer)")
    return make_url(db.direct_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


def through_a_forwarder(connection: Any) -> bool:
    """Whether the server's own port differs from the one dialled (PgBouncer, or another
    forwarder, is in between). A unix socket or an unknown port counts as direct."""
    dialled = connection.info.port
    row = connection.execute("SELECT inet_server_port()").fetchone()
    served = row[0] if row else None
    return served is not None and dialled is not None and int(served) != int(dialled)


class JournalWakeup:
    """Waits for a journal change (or the timeout, or `stop`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Any = None

    def _listen(self) -> Any:
        if self._connection is None and not self.db.is_sqlite:
            import psycopg

            try:
                connection = psycopg.connect(listen_url(self.db), autocommit=True,
                                             prepare_threshold=None)
                if through_a_forwarder(connection):
                    log.warning("the journal listener reaches PostgreSQL through a forwarder "
                                "(port %s, server port differs): if that is a transaction "
                                "pooler, LISTEN misses changes; set [database] direct_url to "
                                "PostgreSQL itself", connection.info.port)
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
