"""One read statement run straight on a pooled DBAPI connection: no Session, no transaction of
its own (SQLite's connections are in autocommit mode already, PostgreSQL's are put into it on
this pool), no statement compilation per call. For a request whose whole database work is one
indexed query (a feed poll), where those layers cost several times the query itself.

Results are converted by the columns' own types (UTCDateTime gives aware UTC datetimes), as the
ORM would. On PostgreSQL the connections come from a pool of their own without the pre-ping
(a second round trip): a connection found broken is discarded and the query tried once more on
a fresh one; engine errors become our errors (server/db/engine.translate_errors). Each query is
its own transaction (autocommit), so a transaction pooler in front changes nothing but the
prepared statements, which are off there (`pooler_connect_args`)."""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Select, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from server.db.engine import Database, pooler_connect_args, translate_errors


class QuickRead:
    """`QuickRead(db, statement)(**params)`: the rows of `statement`, as tuples of converted
    values."""

    def __init__(self, db: Database, statement: Select[*tuple[Any, ...]]) -> None:
        self.engine = _quick_engine(db)
        dialect = self.engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.compiled = compiled
        self.processors: list[Callable[[Any], Any] | None] = [
            column.type._cached_result_processor(dialect, None)  # type: ignore[attr-defined]
            for column in statement.selected_columns]

    def _params(self, values: dict[str, Any]) -> Any:
        params = self.compiled.construct_params(values)
        if self.compiled.positional:
            return tuple(params[name] for name in self.compiled.positiontup or ())
        return params

    def __call__(self, **values: Any) -> list[tuple[Any, ...]]:
        params = self._params(values)
        dbapi = self.engine.dialect.loaded_dbapi
        with translate_errors():
            for attempt in (1, 2):
                connection = self.engine.raw_connection()
                try:
                    cursor = connection.cursor()
                    try:
                        cursor.execute(self.sql, params)
                        rows = cursor.fetchall()
                    finally:
                        cursor.close()
                except dbapi.Error as exc:
                    if attempt == 1 and self.engine.dialect.is_disconnect(exc, connection, None):
                        connection.invalidate()
                        continue
                    connection.invalidate()
                    raise DBAPIError.instance(self.sql, None, exc, dbapi.Error,
                                              connection_invalidated=True) from exc
                finally:
                    connection.close()
                return [tuple(value if process is None else process(value)
                              for process, value in zip(self.processors, row)) for row in rows]
        raise AssertionError("unreachable")


def _quick_engine(db: Database) -> Engine:
    """SQLite: the database's own engine (no pre-ping there). PostgreSQL: a pool of autocommit
    connections without the pre-ping, one per Database."""
    if db.is_sqlite:
        return db.engine
    engine = db.quick_engine
    if engine is None:
        engine = create_engine(db.url, pool_size=db.pool_size, max_overflow=db.pool_size,
                               connect_args=pooler_connect_args(db.pooled))

        @event.listens_for(engine, "connect")
        def _autocommit(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.autocommit = True

        db.quick_engine = engine
    return engine
