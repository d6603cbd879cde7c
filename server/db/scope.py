"""Conditions that name a row's business as well as its parent: on a cluster distributed by
business_id (docs/scaling.md) a statement naming the business goes to one shard, one without it
to every shard. On one database the extra equality costs nothing (the parent's index is used)."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.visitors import InternalTraversal

T = TypeVar("T")


class _BesideParent(ColumnElement[Any]):
    """A business_id column compared beside a parent's id (a calendar, a connection). SQLite,
    which plans without statistics, would as soon walk the business's index as the parent's
    and then filter every row of the business; its unary `+` keeps the column out of index
    choice (the value is the same). Other engines see the plain column: the equality is what
    routes a statement to one shard on a cluster distributed by business_id."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any) -> None:
        self.column = column
        self.type = column.type


@compiles(_BesideParent)
def _plain(element: _BesideParent, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(_BesideParent, "sqlite")
def _not_for_an_index(element: _BesideParent, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.column, **kw))


def business_beside(model: Any, business_id: Any) -> ColumnElement[bool]:
    """`model.business_id == business_id` in a statement led by a parent's id (the parent's
    index stays SQLite's choice; see _BesideParent)."""
    return _BesideParent(model.business_id) == business_id


def in_calendar(model: Any, calendar: Any) -> ColumnElement[bool]:
    """`model`'s rows of `calendar` (any row with `id` and `business_id`): its business and
    its id (the calendar's index leads)."""
    return and_(business_beside(model, calendar.business_id), model.calendar_id == calendar.id)


def of_connection(model: Any, connection: Any) -> ColumnElement[bool]:
    """`model`'s rows of a sync connection (or an ICS source): its business and its id (the
    connection's index leads)."""
    return and_(business_beside(model, connection.business_id),
                model.connection_id == connection.id)


def get_of(session: Session, model: type[T], business_id: int | None,
           row_id: Any) -> T | None:
    """The row `row_id` of `model` when it belongs to `business_id`, else None: from the
    session's identity map when loaded already (no statement, like `Session.get`), else one
    statement naming both the id and the business. `business_id` None (a caller that does not
    know it yet, such as a one-off sync by connection id): `Session.get`, by id alone."""
    if business_id is None:
        return session.get(model, row_id)
    found = session.identity_map.get(identity_key(model, row_id))
    if found is None:
        found = session.execute(select(model).where(
            model.id == row_id,  # type: ignore[attr-defined]
            model.business_id == business_id)).scalar_one_or_none()  # type: ignore[attr-defined]
    if found is None or found.business_id != business_id:  # type: ignore[attr-defined]
        return None
    return cast(T, found)


def reread(session: Session, row: Any) -> bool:
    """`Session.refresh` naming the row's business: its columns read again (after taking a
    lock). False when the row is gone meanwhile."""
    model = type(row)
    found = session.execute(select(model).where(
        model.id == row.id, model.business_id == row.business_id)
        .execution_options(populate_existing=True)).scalar_one_or_none()
    return found is not None
