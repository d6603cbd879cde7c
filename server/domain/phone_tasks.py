"""Tasks (VTODO: a phone's reminders and to-dos) a writable account puts in its employee's
personal calendars. A task takes no time: it never blocks booking and only the employee's
writable accounts see it (server/db/models/links.py PhoneTask; no other reader knows the
table). It is kept as sent, so it round-trips byte for byte, journaled on the employee's
calendar (kind "task") with the account that wrote it. The employee's calendar itself holds
events only (its supported-calendar-component-set says VEVENT): a task there is refused.

Accepted: one VCALENDAR holding VTODOs of one UID (the master and, optionally, overridden
instances with RECURRENCE-ID) and VTIMEZONEs; a repeating rule must pass the same checker as an
event's (server/domain/recurrence.py), since a time-range query expands it. Mixed with an event
(or anything else), or unreadable, it is refused with a PutRefused
(server/domain/phone_event.py) and nothing is stored."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import icalendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import BlockedTime, Booking, PersonalCalendar, PhoneTask
from server.db.scope import get_of, in_calendar, reread
from server.domain import journal
from server.domain.calendars import lock_calendar
from server.domain.phone_event import PutRefused, checked_rule, one_resource
from server.domain.phone_writes import StaleError
from server.errors import ConflictError

ONLY_EVENTS = "this employee's calendar holds events (VEVENT) only; put tasks (VTODO) in a " \
              "personal calendar"
OTHER_KINDS = "send one kind of calendar component per resource (events or tasks, with " \
              "their VTIMEZONEs), not a mix"


class StaleTaskError(StaleError):
    """The task changed after the phone's request was checked (its If-Match no longer holds)."""


@dataclass(frozen=True)
class TaskText:
    """A task as a phone sent it: its UID and its text, kept as sent."""

    uid: str
    text: str


def _bad(reason: str, precondition: str = "C:valid-calendar-data") -> PutRefused:
    return PutRefused("400 Bad Request", precondition, reason)


def components_of(body: bytes) -> tuple[list[Any], Any] | None:
    """(the calendar's components, the calendar) of a PUT body that holds a VTODO, or None
    when it holds none (an event: server/domain/phone_event.py reads it). PutRefused when a
    VTODO comes with another kind of component."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None  # phone_event refuses it with its reason
    if "VTODO" not in text.upper():
        return None
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception:  # icalendar raises ValueError, KeyError, IndexError, ... on bad input
        return None
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        return None
    calendar: Any = calendars[0]
    names = {component.name for component in calendar.subcomponents}
    if "VTODO" not in names:
        return None
    if names - {"VTODO", "VTIMEZONE"}:
        raise _bad(OTHER_KINDS, "C:valid-calendar-object-resource")
    return [c for c in calendar.subcomponents if c.name == "VTODO"], calendar


def read(body: bytes) -> TaskText | None:
    """The task in a PUT body, checked; None when the body holds no VTODO."""
    found = components_of(body)
    if found is None:
        return None
    todos, _ = found
    text = body.decode("utf-8")
    if "\x00" in text:
        raise _bad("the body holds a NUL character")
    uid, master = one_resource(todos, "VTODO")
    # Nothing here expands it, but a time-range query may: the same caps as an event's rule.
    checked_rule(master, "UTC")
    return TaskText(uid=uid, text=text)


def holds(personal: PersonalCalendar | None, component: str) -> bool:
    """Whether a collection (None: the employee's calendar) holds this kind of component."""
    if personal is None:
        return component == "VEVENT"
    return component in personal.components.split(",")


def uid_taken(session: Session, calendar_id: int, uid: str) -> bool:
    """Whether one of the calendar's tasks has this UID."""
    return session.execute(select(PhoneTask.id).where(
        PhoneTask.calendar_id == calendar_id, PhoneTask.uid == uid)).first() is not None


def save(session: Session, business_id: int, calendar_id: int, personal: PersonalCalendar,
         task: TaskText, now: dt.datetime, actor: str,
         expect_seq: int | None = None) -> PhoneTask:
    """Create or replace the task `task.uid` in the personal calendar `personal`, under the
    calendar's lock, journaled. `expect_seq`: the task's journal sequence when the request was
    checked (None: it did not exist)."""
    calendar = lock_calendar(session, business_id, calendar_id)
    row = session.execute(select(PhoneTask).where(
        in_calendar(PhoneTask, calendar), PhoneTask.uid == task.uid)
        .execution_options(populate_existing=True)).scalar_one_or_none()
    if row is not None and row.collection_id != personal.id:
        raise ConflictError("this UID is already used by a task in another of this "
                            "employee's calendars; give the task a new UID",
                            precondition="C:no-uid-conflict")
    if (row.seq if row is not None else None) != expect_seq:
        raise StaleTaskError("the task changed meanwhile; sync again")
    if row is None:
        if session.execute(select(BlockedTime.id).where(
                in_calendar(BlockedTime, calendar), BlockedTime.uid == task.uid)).first() \
                or session.execute(select(Booking.id).where(
                    in_calendar(Booking, calendar), Booking.uid == task.uid)).first():
            raise ConflictError("this UID is already used by an event of this employee's "
                                "calendars; give the task a new UID",
                                precondition="C:no-uid-conflict")
        row = PhoneTask(business_id=business_id, calendar_id=calendar.id,
                        collection_id=personal.id, uid=task.uid, revision=0, created_at=now)
    else:
        row.revision += 1
    row.source_text = task.text
    row.updated_at = now
    session.add(row)
    session.flush()
    row.seq = journal.record(session, calendar, "task", row.id, row.uid, "put", now,
                             actor=actor)
    return row


def delete(session: Session, business_id: int, task_id: int, now: dt.datetime,
           actor: str | None, expect_seq: int | None = None) -> None:
    """Remove a task, journaled."""
    row = get_of(session, PhoneTask, business_id, task_id)
    if row is None:
        raise StaleTaskError("the task changed meanwhile; sync again")
    calendar = lock_calendar(session, business_id, row.calendar_id)
    if not reread(session, row):
        raise StaleTaskError("the task changed meanwhile; sync again")
    if expect_seq is not None and row.seq != expect_seq:
        raise StaleTaskError("the task changed meanwhile; sync again")
    journal.record(session, calendar, "task", row.id, row.uid, "delete", now, actor=actor)
    session.delete(row)

