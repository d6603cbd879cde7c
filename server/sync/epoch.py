"""Restore handling: after a restore from backup (a new database epoch, server/domain/journal.py)
a provider still holds what the engine wrote after the backup. Once per epoch and provider, one
process claims the new epoch (a conditional update that succeeds for one process) and lets the
adapter's `reconcile_epoch` queue every copy to be written again and forget every cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from server.db import Database
from server.db.models import Meta
from server.domain import journal
from server.errors import ConflictError


def unclaimed(db: Database, keys: Sequence[str]) -> set[str]:
    """Which of the Meta `keys` do not hold the database's epoch (a restore, or a first run):
    one statement for them all, the cost of every bridge pass when nothing was restored."""
    wanted = ["epoch", *keys]
    with db.read() as session:
        held = dict(session.execute(select(Meta.key, Meta.value).where(
            Meta.key.in_(wanted))).tuples().all())
    return {key for key in keys if held.get(key) != held["epoch"]}


def claim_new_epoch(db: Database, key: str, reconcile: Callable[[Session], None]) -> bool:
    """True if this call claimed a new epoch under Meta `key` and ran `reconcile` in the same
    transaction. The first run on a database only records the epoch: nothing to reconcile."""
    with db.read() as session:
        current = journal.epoch(session)
        seen = session.execute(select(Meta.value).where(Meta.key == key)).scalar_one_or_none()
    if seen == current:
        return False
    if seen is None:
        try:
            with db.write() as session:
                session.add(Meta(key=key, value=current))
        except ConflictError:
            pass  # another process recorded it first
        return False
    with db.write() as session:
        claimed = cast(CursorResult[Any], session.execute(update(Meta).where(
            Meta.key == key, Meta.value == seen).values(value=current))).rowcount
        if not claimed:
            return False
        reconcile(session)
    return True
