"""The health check's database probe: `SELECT 1`, answered or given up on within a bound.

A database that refuses connections behind PgBouncer does not fail a query: the pooler holds it
until a server connection frees up (query_wait_timeout, two minutes by default). /healthz must
answer within seconds all the same, so the probe runs in a thread of its own and is waited for
at most `timeout` seconds; while one probe is still held, later checks wait on that same probe
instead of stacking more held connections."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from sqlalchemy import text

from server.db.engine import Database
from server.errors import BookingCalError

log = logging.getLogger(__name__)
TIMEOUT = 5.0  # seconds


class _Run:
    """One probe: done when the database answered or failed; `error` says how it failed."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: str | None = None


class DatabaseProbe:
    """`check()` is None when the database answered, else what went wrong (a sentence)."""

    def __init__(self, db: Database, timeout: float = TIMEOUT,
                 ping: Callable[[], None] | None = None) -> None:
        self.db = db
        self.timeout = timeout
        self._ping = ping or self._select_one
        self._lock = threading.Lock()
        self._running: _Run | None = None

    def _select_one(self) -> None:
        with self.db.read() as session:
            session.execute(text("SELECT 1"))

    def _run(self, run: _Run) -> None:
        try:
            self._ping()
        except BookingCalError as exc:
            run.error = exc.message
        except Exception as exc:  # noqa: BLE001 - a health check reports, never raises
            log.error("database probe failed: %s", type(exc).__name__)
            run.error = "the database check failed; see the server log"
        finally:
            run.done.set()

    def check(self) -> str | None:
        with self._lock:
            run = self._running
            if run is None or run.done.is_set():
                run = self._running = _Run()
                # A daemon thread: a probe held by the pooler never delays the process's exit.
                threading.Thread(target=self._run, args=(run,), name="healthz-probe",
                                 daemon=True).start()
        if not run.done.wait(self.timeout):
            return (f"the database did not answer within {self.timeout:g} seconds; "
                    "try again later")
        return run.error
