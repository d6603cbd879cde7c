"""Request and response models of employee calendars, personal calendars, opening hours and
the change journal."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from server.api.schemas.base import Body, Id, Name, Output, Short, Text, TimeOfDay
from server.api.schemas.paths import CalendarPath


class CalendarIn(Body):
    name: Name
    slug: str | None = Field(None, max_length=64, description="URL-safe; derived from the name "
                                                              "when omitted")
    timezone: str | None = Field(None, max_length=64, description="Defaults to the business's")
    colour: str | None = Field(None, description="#RRGGBB")
    active: bool = True


class CalendarPatch(Body):
    name: Name | None = None
    slug: str | None = Field(None, max_length=64)
    timezone: str | None = Field(None, max_length=64)
    colour: str | None = None
    active: bool | None = None


class CalendarOut(Output):
    id: int
    uid: str
    name: str
    slug: str
    timezone: str
    colour: str
    active: bool
    sync_token: str = Field(description="The calendar's journal position (epoch-sequence)")
    created_at: dt.datetime
    updated_at: dt.datetime


class CalendarList(BaseModel):
    items: list[CalendarOut]


class PersonalCalendarPath(CalendarPath):
    personal_id: Id


class PersonalCalendarOut(Output):
    """A calendar an employee's phone made (MKCALENDAR on a writable account)."""

    id: int
    calendar_id: int
    slug: str
    name: str
    blocks: bool = Field(description="Whether its events block booking (default true)")
    colour: str | None = Field(description="Its calendar-color as the phone set it, #RRGGBB "
                               "or #RRGGBBAA (null: removed)")
    created_at: dt.datetime


class PersonalCalendarList(BaseModel):
    items: list[PersonalCalendarOut]


class PersonalCalendarPatch(Body):
    """What to change; a field left out stays as it is. Name and colour are checked as a
    phone's PROPPATCH is (server/domain/personal_calendars.py), all or nothing."""

    blocks: bool | None = Field(None, description="Whether its events block booking")
    name: Text | None = Field(None, description="Its name (DAV:displayname), at most 200 "
                              "characters, as every writable account of the employee shows it")
    colour: Short | None = Field(None, description="Its calendar-color, #RRGGBB or #RRGGBBAA; "
                                 "null removes it")


class IntervalIn(Body):
    opens: TimeOfDay
    closes: TimeOfDay


class WeeklyIntervalIn(IntervalIn):
    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")]


class WeeklyHoursIn(Body):
    intervals: Annotated[list[WeeklyIntervalIn], Field(max_length=100)]


class WeeklyIntervalOut(Output):
    weekday: int
    opens: TimeOfDay
    closes: TimeOfDay


class WeeklyHoursOut(BaseModel):
    calendar_id: int
    timezone: str
    intervals: list[WeeklyIntervalOut]


class ExceptionIn(Body):
    intervals: Annotated[list[IntervalIn], Field(max_length=20,
                                                 description="Empty: closed all day")] = []
    note: Annotated[str, StringConstraints(max_length=200)] = ""


class ExceptionOut(BaseModel):
    day: dt.date
    closed: bool
    intervals: list[IntervalIn]
    note: str


class ExceptionList(BaseModel):
    items: list[ExceptionOut]


class ChangeOut(BaseModel):
    seq: int
    kind: str = Field(description="booking, blocked, calendar or task (a phone's VTODO)")
    id: int
    uid: str
    action: str = Field(description="put (created or changed) or delete (a tombstone)")
    actor: str | None = Field(None, description="Who made the change when it was not the API, "
                              "the admin pages or a provider: `link:<id>` for a writable "
                              "CalDAV account (a phone)")


class ChangesOut(BaseModel):
    calendar_id: int
    token: str = Field(description="Pass as `since` next time")
    changes: list[ChangeOut]
