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


@contextmanager
def recorded(engine: Any, step: list[str]) -> Iterator[list[tuple[str, str]]]:
    """(step[0] at the time, statement) of every statement `engine` sends in the block."""
    seen: list[tuple[str, str]] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append((step[0], " ".join(statement.split())))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def offending(seen: list[tuple[str, str]]) -> str:
    """The recorded statements that do not name their business, one per line."""
    return "\n".join(sorted({f"[{step}] {unscoped(statement)}: {statement[:1500]}"
                             for step, statement in seen if unscoped(statement)}))
