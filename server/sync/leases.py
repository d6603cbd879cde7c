"""Leases across processes: several bridge processes may run against one database, and a
process works a connection only while it holds the connection's lease (a conditional row update
that succeeds for one process at a time), so scaling out never double-writes. A lease held by a
process of this machine that no longer runs (kill -9, a crash) is taken over at once.

Works on any provider's connection table whose rows have `id`, `lease_owner` (at most 64
characters) and `lease_until`."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update

from server.db import Database

log = logging.getLogger(__name__)
LEASE = dt.timedelta(seconds=120)


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as found:
            return found.read().strip().replace("-", "")[:8]
    except OSError:
        return "-"


def worker_name() -> str:
    """host:boot:pid:random (at most 64 characters): a restarted bridge on the same machine can
    tell that the process holding a lease is gone (see `lease_owner_dead`)."""
    host = socket.gethostname().replace(":", "")[:40]
    return f"{host}:{_boot_id()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def lease_owner_dead(owner: str) -> bool:
    """Whether `owner` names a bridge process of this machine (same host name, same boot) that
    no longer runs: killed (kill -9, a crash), its lease can be taken over at once instead of
    after it expires. Anything else (another machine, a live or unknown process) is not."""
    parts = owner.split(":")
    if len(parts) != 4 or not parts[2].isdigit():
        return False
    mine = worker_name().split(":")
    if parts[:2] != mine[:2] or int(parts[2]) == os.getpid():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, owned by someone else
    return _zombie(int(parts[2]))


def _zombie(pid: int) -> bool:
    """A killed process not yet reaped by its parent (a supervisor, a test) still answers
    kill(pid, 0), but runs no more."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as found:
            state = found.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def _row(table: type[Any], connection_id: int, business_id: int | None) -> list[Any]:
    """The conditions naming the row: its id, and its business when the table has one (a
    connection's lease names its business: one shard on a cluster, docs/scaling.md)."""
    found = [table.id == connection_id]
    if business_id is not None:
        found.append(table.business_id == business_id)
    return found


def acquire(db: Database, table: type[Any], connection_id: int, worker: str,
            now: dt.datetime, business_id: int | None = None) -> bool:
    """Take (or extend) the lease of connection `connection_id` of `table` for `worker`;
    `business_id`: the connection's business (None for a table of no business: sync_jobs)."""
    with db.write() as session:
        result = session.execute(update(table).where(
            *_row(table, connection_id, business_id),
            or_(table.lease_owner.is_(None), table.lease_owner == worker,
                table.lease_until < now)).values(lease_owner=worker, lease_until=now + LEASE))
        if cast(CursorResult[Any], result).rowcount:
            return True
        owner = session.execute(select(table.lease_owner).where(
            *_row(table, connection_id, business_id))).scalar()
        if owner is None or not lease_owner_dead(owner):
            return False
        log.info("taking over the lease of %s, which no longer runs", owner)
        result = session.execute(update(table).where(
            *_row(table, connection_id, business_id), table.lease_owner == owner).values(
            lease_owner=worker, lease_until=now + LEASE))
        return bool(cast(CursorResult[Any], result).rowcount)


def release(db: Database, table: type[Any], connection_id: int, worker: str,
            business_id: int | None = None) -> None:
    """Give the lease back, if `worker` still holds it."""
    with db.write() as session:
        session.execute(update(table).where(
            *_row(table, connection_id, business_id), table.lease_owner == worker).values(
            lease_owner=None, lease_until=None))
