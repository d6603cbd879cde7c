"""Engines and sessions for SQLite (embedded default) and PostgreSQL (scale).

`Database.read()` gives a session for reading; `Database.write()` one for a writing transaction:
on SQLite it starts with BEGIN IMMEDIATE (writers queue for the database's write lock, waiting up
to the busy timeout), on PostgreSQL it sets a lock timeout so that waiting for a calendar's row
lock ends in a BusyError instead of hanging. Engine errors become our errors here, in one place.

Behind a transaction-pooling PgBouncer (`direct_url` given: `url` is the pooler, `direct_url`
PostgreSQL itself) a server connection is ours only for one transaction, so nothing may outlive
one: no server-side prepared statements (psycopg's `prepare_threshold=None`; PgBouncer before
1.21 cannot carry them), settings only with SET LOCAL, advisory locks only the `_xact_` kind, no
LISTEN (server/sync/wakeup.py listens on `direct_url`). `pooler_connect_args` is the one place
that says so for every engine made on `url`.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from server.errors import BusyError, ConflictError, InvalidError, UnavailableError

log = logging.getLogger(__name__)

_WRITE = "bookingcal_write"


class Database:
    def __init__(self, url: str, *, busy_timeout: float = 10.0, lock_timeout: float = 10.0,
                 pool_size: int = 10, direct_url: str | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if direct_url is not None and (self.is_sqlite or not direct_url.startswith("postgresql")):
            raise ValueError("direct_url is for PostgreSQL behind a pooler: both url and "
                             "direct_url must be postgresql+psycopg:// URLs")
        # Through a transaction pooler (url) with PostgreSQL itself at direct_url; else both
        # are the same server, reached directly (or through a session pooler).
        self.pooled = direct_url is not None
        self.direct_url = direct_url or url
        self.lock_timeout = lock_timeout
        self.pool_size = pool_size
        # PostgreSQL: the pool of server/db/quickread.py, made on first use.
        self.quick_engine: Engine | None = None
        if self.is_sqlite:
            self.engine = create_engine(url, connect_args={"timeout": busy_timeout,
                                                           "check_same_thread": False},
                                        pool_size=pool_size, max_overflow=pool_size)
            self._install_sqlite_hooks(busy_timeout)
        else:
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                                        pool_pre_ping=True,
                                        connect_args=pooler_connect_args(self.pooled))
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(**{_WRITE: True}),
                                    expire_on_commit=False)

    def _install_sqlite_hooks(self, busy_timeout: float) -> None:
        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the driver so that BEGIN IMMEDIATE is ours to send.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get(_WRITE)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading. Closing it returns the connection (the pool rolls the
        transaction back) and leaves loaded objects usable, detached."""
        with translate_errors(), self._reader() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends without an exception."""
        with translate_errors(), self._writer() as session:
            with session.begin():
                if not self.is_sqlite:
                    session.execute(text(f"SET LOCAL lock_timeout = '{int(self.lock_timeout * 1000)}ms'"))
                yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self.quick_engine is not None:
            self.quick_engine.dispose()


def pooler_connect_args(pooled: bool) -> dict[str, Any]:
    """psycopg's arguments for a connection made through a transaction pooler (`pooled`):
    never prepare statements on the server (the next transaction may run on another server
    connection, where the statement does not exist). Direct connections keep psycopg's default
    (a query run five times is prepared)."""
    return {"prepare_threshold": None} if pooled else {}


@contextmanager
def translate_errors() -> Iterator[None]:
    """Engine errors in, our errors out: a lock wait or a busy database is a BusyError (503), an
    exclusion or unique violation a ConflictError (409), a lost server UnavailableError (503)."""
    try:
        yield
    except DataError as exc:
        raise InvalidError("a value does not fit the database (too long, or a character it "
                           "cannot store)") from exc
    except IntegrityError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "23P01":  # exclusion_violation: the engine-level overlap backstop
            raise ConflictError("the booking overlaps another confirmed booking on this calendar "
                                "(refused by the database constraint)") from exc
        raise ConflictError("the change conflicts with existing data",
                            reason=type(exc.orig).__name__) from exc
    except OperationalError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        message = str(exc.orig).lower()
        if sqlstate in ("55P03", "40P01", "40001") or "locked" in message or "busy" in message:
            raise BusyError("the calendar is busy with another change; try again in a moment") \
                from exc
        log.error("database unavailable: %s", type(exc.orig).__name__)
        raise UnavailableError("the database is unavailable; try again later") from exc
    except StaleDataError as exc:  # the ORM's UPDATE or DELETE found its row gone or moved
        raise ConflictError("the item was changed or removed by another request meanwhile; "
                            "read it again and retry", reason="StaleData") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise UnavailableError("the database connection was lost; try again later") from exc
        raise


def engine_for(url: str) -> Engine:
    """A bare engine for maintenance commands (migrations, backup)."""
    return Database(url, pool_size=1).engine
