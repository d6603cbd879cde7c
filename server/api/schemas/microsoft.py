"""Request and response models of Microsoft 365 / Outlook connections."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from server.api.schemas.base import Body, Id
from server.api.schemas.google import EditRefusalOut, GoogleItemError


class MicrosoftCalendarChoice(Body):
    calendar_id: Id
    write_calendar: str = Field(min_length=1, max_length=1024,
                                description="An Outlook calendar id (GET /me/calendars)")
    read_calendar: str | None = Field(None, min_length=1, max_length=1024,
                                      description="Defaults to write_calendar")


class MicrosoftSettingsIn(Body):
    direction: Literal["both", "to_microsoft", "from_microsoft"] | None = None
    hide_client_details: bool | None = None
    block_online_booking: bool | None = None
    calendars: Annotated[list[MicrosoftCalendarChoice], Field(max_length=500)] | None = Field(
        None, description="The employee calendars taking part (replaces the list)")
    block_out_of_office: bool | None = Field(None, description="Out-of-office events block")
    block_tentative: bool | None = Field(None, description="Tentative events block")
    block_all_day: bool | None = Field(None, description="All-day busy events block")


class MicrosoftItemError(GoogleItemError):
    error: str = Field(description="what Outlook answered when the item was last written")


class MicrosoftCalendarStatus(BaseModel):
    calendar_id: int
    name: str
    write_calendar: str = Field(description="The Outlook calendar id its bookings go to")
    read_calendar: str = Field(description="The Outlook calendar id whose events come back")
    pending_changes: int
    synced_at: dt.datetime | None = Field(description="last read of its Outlook calendar")
    write_error: str | None = Field(
        default=None, description="last failure writing to this Outlook calendar alone; "
        "cleared by the next successful write")
    write_error_at: dt.datetime | None = None
    read_error: str | None = Field(
        default=None, description="last failure reading this Outlook calendar alone; cleared "
        "by the next successful read")
    read_error_at: dt.datetime | None = None
    write_retry: str | None = Field(
        default=None, description='"retrying in N min" while writes to this calendar back off')
    failing: list[MicrosoftItemError] = Field(
        default=[], description="bookings and blocked times of this calendar whose write "
        "Outlook refused; each backs off on its own while the others sync")


class MicrosoftStatusOut(BaseModel):
    connected: bool
    account_email: str | None = None
    status: str | None = Field(default=None, description="connected, needs_reconnect or paused")
    direction: str | None = None
    hide_client_details: bool | None = None
    block_online_booking: bool | None = None
    last_sync_at: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    calendars: list[MicrosoftCalendarStatus] = []
    block_out_of_office: bool | None = None
    block_tentative: bool | None = None
    block_all_day: bool | None = None
    edit_refusals: list[EditRefusalOut] = Field(
        default=[], description="Edits made in Outlook to copies of bookings that the booking "
        "rules refused (edits_from_calendars 'apply'), newest first")


class MicrosoftDisconnectIn(Body):
    keep_copies: bool = Field(False, description="Leave the copies of bookings in Outlook "
                              "(they stop being updated)")


class MicrosoftDisconnectOut(BaseModel):
    copies_deleted: int
    copies_kept: int
    subscriptions_deleted: int
    revoked: bool = Field(description="always false: Microsoft lets an app forget a token, "
                          "not revoke it; see note")
    note: str
