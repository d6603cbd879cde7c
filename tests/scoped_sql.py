"""What tells whether a statement names its business (docs/scaling.md, "Sharding by
business"): every table of a business it reads or writes is constrained by its business_id (a
condition or join on `<table or alias>.business_id`, or an INSERT's column). Used by the tests
that record the statements of a request path or of a sync pass."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import event

from server.db.models import Base

# Installation-wide tables (reference tables on a cluster): no business to name.
REFERENCE = {"businesses", "meta", "sync_jobs", "key_directory", "alembic_version"}
BUSINESS_TABLES = {name for name in Base.metadata.tables if name not in REFERENCE}
_TABLES = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?(\w+)\"?(?:\s+AS\s+(\w+))?", re.I)


_SELECTED = re.compile(r"\bSELECT\b.*?\bFROM\b", re.I)  # a select list (not a condition)
_RETURNED = re.compile(r"\bRETURNING\b.*", re.I)


def unscoped(statement: str) -> list[str]:
    """The business tables `statement` uses without naming their business_id in a condition
    (a column it selects or returns does not count)."""
    missing = []
    conditions = _RETURNED.sub("", _SELECTED.sub("SELECT FROM", statement))
    for table, alias in _TABLES.findall(statement):
        if table not in BUSINESS_TABLES:
            continue
        named = f"{alias or table}.business_id" in conditions
        inserted = statement.startswith("INSERT") and "business_id" in statement
        if not (named or inserted):
            missing.append(table)
    return missing


class Recording(list[tuple[str, str]]):
    """(step, statement) of each statement sent; `sent` holds each one's parameters (None for
    an executemany)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Any] = []


@contextmanager
def recorded(engine: Any, step: list[str]) -> Iterator[Recording]:
    """(step[0] at the time, statement) of every statement `engine` sends in the block."""
    seen = Recording()

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
               executemany: bool) -> None:
        seen.append((step[0], " ".join(statement.split())))
        seen.sent.append(None if executemany else parameters)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def offending(seen: list[tuple[str, str]]) -> str:
    """The recorded statements that do not name their business, one per line."""
    return "\n".join(sorted({f"[{step}] {unscoped(statement)}: {statement[:1500]}"
                             for step, statement in seen if unscoped(statement)}))


# SQLite's plan step that walks a business's index by business_id alone (or with a range), or
# the whole table (SCAN).
_BUSINESS_WALK = re.compile(r"SEARCH (\w+) USING (?:COVERING )?INDEX \w+ "
                            r"\(business_id=\?(?: AND \w+[<>=]+\?)*\)|SCAN (\w+)")


def business_walks(engine: Any, seen: Recording) -> str:
    """On SQLite (which plans without statistics): the recorded statements that name a row's
    parent (its calendar, connection, link or parent item) but are planned over the index of
    the whole business or the whole table (every row read and filtered), one per line."""
    if engine.dialect.name != "sqlite":
        return ""
    found = set()
    with engine.connect() as connection:
        for (step, statement), parameters in zip(seen, seen.sent):
            if parameters is None or not statement.startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            plan = " | ".join(str(row[-1]) for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters))
            for table in {name for pair in _BUSINESS_WALK.findall(plan) for name in pair if name}:
                if re.search(rf"\b{table}\.(?:calendar_id|connection_id|link_id|parent_id)"
                             r" (?:=|IN)", statement):
                    found.add(f"[{step}] {table}: {plan[:300]} <- {statement[:600]}")
    return "\n".join(sorted(found))
