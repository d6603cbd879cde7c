"""Conditions that name a row's business as well as its parent: on a cluster distributed by
business_id (docs/scaling.md) a statement naming the business goes to one shard, one without it
to every shard. On one database the extra equality costs nothing (the parent's index is used)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_


def in_calendar(model: Any, calendar: Any) -> ColumnElement[bool]:
    """`model`'s rows of `calendar` (any row with `id` and `business_id`): its business and
    its id."""
    return and_(model.business_id == calendar.business_id, model.calendar_id == calendar.id)


def of_connection(model: Any, connection: Any) -> ColumnElement[bool]:
    """`model`'s rows of a sync connection (or an ICS source): its business and its id."""
    return and_(model.business_id == connection.business_id,
                model.connection_id == connection.id)
