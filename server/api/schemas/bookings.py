"""Request and response models of bookings and blocked time."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.api.schemas.base import Body, BookingWhen, DateOrTime, Id, LocalDateTime, Name, Text


class BookingIn(Body):
    calendar_id: Id
    service_id: Id
    client_id: Id | None = None
    all_day: bool = Field(False, description="A date-only booking (a course day): start and "
                          "end are dates, end exclusive; it blocks the employee's whole days")
    start: BookingWhen = Field(description="With an offset, or local time in the calendar's "
                               "zone; a date (YYYY-MM-DD) when all_day")
    end: BookingWhen | None = Field(None, description="Defaults to start + the service duration "
                                   "(all_day: the next day); exclusive")
    status: Literal["confirmed", "cancelled"] = "confirmed"
    source: Literal["staff", "online"] = "staff"
    location: Text | None = None
    notes: Text | None = None


class BookingPatch(Body):
    """Fields left out stay as they are; client_id, location and notes may be set to null."""

    calendar_id: Id | None = None
    service_id: Id | None = None
    client_id: Id | None = None
    all_day: bool | None = Field(None, description="Changing it needs a new start of the "
                                 "matching kind (a date, or a date-time)")
    start: BookingWhen | None = None
    end: BookingWhen | None = None
    status: Literal["confirmed", "cancelled"] | None = None
    source: Literal["staff", "online"] | None = None
    location: Text | None = None
    notes: Text | None = None


class BookingOut(BaseModel):
    id: int
    uid: str
    calendar_id: int
    service_id: int
    client_id: int | None
    status: str
    source: str
    all_day: bool = Field(description="Whole local days: start_local and end_local are "
                          "midnights, end exclusive")
    start: dt.datetime = Field(description="In the calendar's zone, with offset")
    end: dt.datetime
    timezone: str
    start_local: LocalDateTime = Field(description="Wall-clock time kept if DST rules change")
    end_local: LocalDateTime
    occupied_start: dt.datetime = Field(description="Start minus the service's buffer")
    occupied_end: dt.datetime
    location: str | None
    notes: str | None
    revision: int
    sequence: int = Field(description="Journal sequence of the last change")
    created_at: dt.datetime
    updated_at: dt.datetime
    warnings: list[str] = Field(default_factory=list, description="E.g. that Google could not "
                                "be reached and the mirrored Google events were used")


class BookingList(BaseModel):
    items: list[BookingOut]
    next_cursor: str | None


class BlockedIn(Body):
    calendar_id: Id
    title: Name = "Blocked"
    all_day: bool = False
    start: DateOrTime
    end: DateOrTime = Field(description="Exclusive; a date for all-day items")
    rrule: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        None, description="RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO,WE, in local time")
    exdates: Annotated[list[DateOrTime], Field(max_length=1000)] = []


class BlockedPatch(Body):
    title: Name | None = None
    all_day: bool | None = None
    start: DateOrTime | None = None
    end: DateOrTime | None = None
    rrule: Annotated[str, StringConstraints(max_length=500)] | None = None
    exdates: Annotated[list[DateOrTime], Field(max_length=1000)] | None = None


class BlockedOut(BaseModel):
    id: int
    uid: str
    calendar_id: int
    title: str
    all_day: bool
    timezone: str
    start_local: LocalDateTime
    end_local: LocalDateTime
    start: dt.datetime
    end: dt.datetime
    rrule: str | None
    exdates: list[str]
    revision: int
    sequence: int


class BlockedList(BaseModel):
    items: list[BlockedOut]
