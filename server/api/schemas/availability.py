"""Request and response bodies of GET /api/v1/availability."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field

from server.api.schemas.base import Id, Input


class AvailabilityQuery(Input):
    business_id: Id
    calendar_id: Annotated[list[Id], Field(min_length=1, max_length=50,
                                           description="One or several calendars (repeat it)")]
    service_id: Id
    start: dt.date = Field(description="First local day (YYYY-MM-DD) in each calendar's zone")
    end: dt.date | None = Field(None, description="Day after the last one (exclusive); "
                                                  "defaults to start + 1 day")
    explain: bool = Field(False, description="Why the other times cannot be booked; needs an "
                                             "API key")


class ReasonOut(BaseModel):
    type: str = Field(description="outside_hours, notice, horizon, booking, buffer, "
                                  "blocked_time, google_event, microsoft_event, ics_event or caldav_event")
    start: dt.datetime
    end: dt.datetime
    id: str | None = Field(None, description="Booking or blocked time id, or Google/Outlook "
                                                 "event id")
    cause: str | None = Field(None, description="For a buffer: the type of item it surrounds")
    google_calendar: str | None = None
    title: str | None = Field(None, description="A Google event's title")


class RefusedOut(BaseModel):
    first: dt.datetime = Field(description="First start time of the run")
    last: dt.datetime = Field(description="Last start time of the run")
    reasons: list[ReasonOut]


class GoogleFreshnessOut(BaseModel):
    google_calendar: str
    synced_at: dt.datetime | None
    age_seconds: int | None
    text: str = Field(description="'synced 12 s ago' or 'never synced'")


class SourceOut(BaseModel):
    provider: str = Field(description="google, microsoft, ...: the sync provider")
    calendar: str | None = Field(None, description="The provider's calendar id; only with an "
                                                   "API key")
    synced_at: dt.datetime | None = Field(description="Last successful read (UTC)")
    age_seconds: int | None
    state: str = Field(description="ok, stale, needs_reconnecting or error")
    reason: str = Field(description="Why, for people")
    error: str | None = Field(None, description="The recorded error; only with an API key")


class ExplainOut(BaseModel):
    unavailable: list[ReasonOut] = Field(description="Every interval that cannot be booked")
    refused: list[RefusedOut] = Field(description="Offered start times refused, in runs")
    google: GoogleFreshnessOut | None = Field(None, description="Present when Google busy time "
                                                                "blocks this calendar")
    warnings: list[str]


class CalendarAvailabilityOut(BaseModel):
    calendar_id: int
    timezone: str
    slots: list[dt.datetime] = Field(description="Bookable start times, local with offset")
    sources: list[SourceOut] = Field(
        default_factory=list, description="Each external source whose busy time blocks this "
        "calendar, and how fresh it is")
    hidden: bool = Field(False, description="No time offered: a source is not ok and the "
                                            "business's stale-data policy is 'hide'")
    explain: ExplainOut | None = None


class AvailabilityOut(BaseModel):
    service_id: int
    duration_minutes: int
    start: dt.date
    end: dt.date
    calendars: list[CalendarAvailabilityOut]
