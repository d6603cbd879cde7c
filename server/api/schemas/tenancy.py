"""Request and response models of businesses and their API keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.api.schemas.base import Body, Name, Output


class BusinessIn(Body):
    name: Name
    timezone: str = Field(description="IANA zone, e.g. Europe/Copenhagen", max_length=64)


class BusinessPatch(Body):
    name: Name | None = None
    timezone: str | None = Field(None, max_length=64)
    allow_cancel_from_calendar: bool | None = Field(
        None, description="Deleting a booking on a writable CalDAV account (an employee's "
        "phone) cancels it; off: the phone's delete is refused")
    calendar_moves_within_hours: bool | None = Field(
        None, description="A booking moved on a phone must also fall within opening hours")
    stale_policy: Literal["offer", "hide", "recheck"] | None = Field(
        None, description="A calendar whose blocking source (Google, Outlook, ...) is stale "
        "or disconnected: offer its times with a warning, hide them, or recheck the provider "
        "live before accepting an online booking (refused on doubt)")
    edits_from_calendars: Literal["rewrite", "apply"] | None = Field(
        None, description="Edits made in Google/Outlook to copies of bookings: 'rewrite' them "
        "(the default) or 'apply' them (a move reschedules, a delete cancels, when the rules "
        "allow; else the copy is rewritten and the refusal shown in the status)")
    live_check_max_age_seconds: int | None = Field(
        None, ge=0, le=86400, description="Before an online booking, a source whose mirrored "
        "busy time is older than this many seconds is read live (null: the server's "
        "availability.google_max_age_seconds, 300 by default; 0: always). Under 'recheck' a "
        "stale source is always read live")


class BusinessOut(Output):
    id: int
    name: str
    timezone: str
    created_at: dt.datetime
    allow_cancel_from_calendar: bool = False
    calendar_moves_within_hours: bool = False
    stale_policy: str = "offer"
    edits_from_calendars: str = "rewrite"
    live_check_max_age_seconds: int | None = None


class BusinessList(BaseModel):
    items: list[BusinessOut]


class ApiKeyIn(Body):
    label: Annotated[str, StringConstraints(max_length=200)] = ""


class ApiKeyOut(Output):
    id: int
    business_id: int
    label: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret, shown once; only its keyed hash is stored")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
