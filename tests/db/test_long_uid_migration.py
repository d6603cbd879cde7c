"""Migration 0032 (a phone's UIDs up to 255 characters) on SQLite and PostgreSQL: the columns
holding them (blocked_times.uid, phone_tasks.uid, journal.item_uid) widen from 64 to 255 with
the rows kept, a phone's event with a 255-character UID is then stored and found by it, and a
downgrade refuses, naming the table, while such a UID is stored (nothing changed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from server.db.migrate import current_revision, downgrade, head_revision, upgrade
from server.db.models import BlockedTime, JournalEntry
from server.domain import phone_event, phone_writes
from server.domain.businesses import create_business
from server.domain.calendars import create_calendar
from support import NOW, make_runtime

CPH = "Europe/Copenhagen"
COLUMNS = {"blocked_times": "uid", "phone_tasks": "uid", "journal": "item_uid"}


def _lengths(engine: Any) -> dict[str, int]:
    inspector = inspect(engine)
    return {table: next(c["type"].length for c in inspector.get_columns(table)
                        if c["name"] == column) for table, column in COLUMNS.items()}


def _event(uid: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//Test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261124T080000Z\r\nDTSTART;TZID={CPH}:20261203T100000\r\n"
            f"DTEND;TZID={CPH}:20261203T110000\r\nSUMMARY:Errand\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n").encode()


def _stored(runtime: Any) -> tuple[list[str], list[str]]:
    with runtime.db.read() as session:
        return (sorted(session.scalars(select(BlockedTime.uid))),
                sorted(session.scalars(select(JournalEntry.item_uid))))


def test_0032_widens_the_uid_columns_and_keeps_the_rows(tmp_path: Path,
                                                        database_url: str) -> None:
    runtime = make_runtime(tmp_path, database_url)
    engine = runtime.db.engine
    with runtime.db.write() as session:
        business = create_business(session, name="north", timezone=CPH, now=NOW).id
        calendar = create_calendar(session, business, name="Anna", now=NOW).id
        phone_writes.save_personal_event(session, business, calendar,
                                         phone_event.read(_event("short-uid"), CPH), NOW,
                                         "link:1")
    before = _stored(runtime)
    assert before[0] == ["short-uid"] and "short-uid" in before[1]
    downgrade(engine, "0031")
    assert _lengths(engine) == dict.fromkeys(COLUMNS, 64)
    assert _stored(runtime) == before
    upgrade(engine)
    assert _lengths(engine) == dict.fromkeys(COLUMNS, 255)
    assert _stored(runtime) == before
    long_uid = "040000008200E00074C5B7101A82E008" + "0123456789ABCDEF" * 13 + "F" * 15
    assert len(long_uid) == 255
    with runtime.db.write() as session:
        saved = phone_writes.save_personal_event(session, business, calendar,
                                                 phone_event.read(_event(long_uid), CPH), NOW,
                                                 "link:1")
        assert saved.uid == long_uid
    after = (sorted(before[0] + [long_uid]), sorted(before[1] + [long_uid]))
    assert _stored(runtime) == after
    with pytest.raises(RuntimeError, match="blocked_times.uid holds 1 UID"):
        downgrade(engine, "0031")
    assert current_revision(engine) == head_revision(engine)
    assert _lengths(engine) == dict.fromkeys(COLUMNS, 255)
    assert _stored(runtime) == after
    runtime.db.dispose()
