"""Request and response models of private links (ICS feed and CalDAV account)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.api.schemas.base import AwareDateTimeIn, Body, Id, Input
from server.api.schemas.paths import BusinessPath


class LinkPath(BusinessPath):
    link_id: Id


class LinkQuery(Input):
    calendar_id: Id | None = Field(None, description="Links that show this calendar ('all' "
                                                      "links included)")
    include_revoked: bool = False


ReminderMinutes = Annotated[int, Field(ge=0, le=40320, description="An alarm (VALARM) on the "
                                       "link's bookings this many minutes before each starts; "
                                       "its text shows what the profile shows")]


class LinkIn(Body):
    scope: Literal["calendar", "set", "all"]
    calendar_ids: Annotated[list[Id], Field(max_length=500)] = []
    profile: Literal["full", "limited", "busy", "slots"] = Field(
        description="full; limited (no client information); busy (times only); slots (the "
        "open times of `service_id`, for partners: no bookings at all)")
    label: Annotated[str, StringConstraints(max_length=200)] = ""
    expires_at: AwareDateTimeIn | None = None
    reminder_minutes: ReminderMinutes | None = None
    service_id: Id | None = Field(None, description="The service a 'slots' link shows")
    writable: bool = Field(False, description="The employee's phone: its CalDAV account may "
                           "add personal events and move bookings (under the staff rules); "
                           "only for scope calendar with profile full")


class LinkPatch(Body):
    label: Annotated[str, StringConstraints(max_length=200)] | None = None
    profile: Literal["full", "limited", "busy", "slots"] | None = None
    expires_at: AwareDateTimeIn | None = Field(None, description="null removes the expiry")
    reminder_minutes: ReminderMinutes | None = Field(None, description="null removes the "
                                                     "reminder")


class CaldavAccount(BaseModel):
    server: str = Field(description="Server address for a CalDAV account")
    username: str
    password: str = Field(description="The link's token")


class LinkOut(BaseModel):
    id: int
    scope: str
    calendar_ids: list[int]
    profile: str
    label: str
    reminder_minutes: int | None = Field(description="Alarm minutes before each booking; "
                                         "null: none")
    service_id: int | None = Field(description="The service a 'slots' link shows")
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    created_at: dt.datetime
    active: bool
    writable: bool = False


class LinkShown(LinkOut):
    token: str
    feed_url: str = Field(description="https URL of the ICS feed")
    webcal_url: str = Field(description="The same feed as webcal://, for one-click subscribe")
    freebusy_url: str = Field(description="The link's busy time as a VFREEBUSY (Outlook's "
                              "Internet Free/Busy, Thunderbird)")
    caldav: CaldavAccount


class LinkList(BaseModel):
    items: list[LinkOut]
