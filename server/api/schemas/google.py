"""Request and response models of Google Calendar connections (consent, settings, status)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.api.schemas.base import Body, Id


class ConsentOut(BaseModel):
    consent_url: str = Field(description="Send the business admin here to connect Google")


class GoogleCalendarChoice(Body):
    calendar_id: Id
    write_calendar: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = "primary"
    read_calendar: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None


class GoogleSettingsIn(Body):
    direction: Literal["both", "to_google", "from_google"] | None = None
    hide_client_details: bool | None = None
    block_online_booking: bool | None = None
    reminders: bool | None = None
    calendars: Annotated[list[GoogleCalendarChoice], Field(max_length=500)] | None = Field(
        None, description="The employee calendars taking part (replaces the list)")
    block_out_of_office: bool | None = Field(None, description="Out-of-office events block")
    block_tentative: bool | None = Field(None, description="Events answered tentative block")
    block_all_day: bool | None = Field(None, description="All-day busy events block")


class GoogleItemError(BaseModel):
    kind: str = Field(description="booking or blocked")
    item_id: int
    error: str = Field(description="what Google answered when the item was last written")
    failures: int = Field(description="failed writes in a row")
    last_failed_at: dt.datetime
    retry: str = Field(description='"retrying in N min" (1 min doubling up to 1 h), or at '
                       "once when the item changes")


class GoogleCalendarStatus(BaseModel):
    calendar_id: int
    name: str
    write_calendar: str
    read_calendar: str
    pending_changes: int
    synced_at: dt.datetime | None
    write_error: str | None = Field(
        default=None, description="last failure writing to this Google calendar alone (404 "
        "deleted, 403 no write access); cleared by the next successful write")
    write_error_at: dt.datetime | None = None
    read_error: str | None = Field(
        default=None, description="last failure reading this Google calendar alone; cleared "
        "by the next successful read")
    read_error_at: dt.datetime | None = None
    write_retry: str | None = Field(
        default=None, description='"retrying in N min" while writes to this calendar back off '
        "after failing on their own (1 min doubling up to 1 h)")
    failing: list[GoogleItemError] = Field(
        default=[], description="bookings and blocked times of this calendar whose write "
        "Google refused (e.g. 400); each backs off on its own while the others sync")


class EditRefusalOut(BaseModel):
    booking_id: int
    action: str = Field(description="move or cancel")
    reason: str
    at: dt.datetime


class GoogleStatusOut(BaseModel):
    connected: bool
    account_email: str | None = None
    status: str | None = Field(default=None, description="connected, needs_reconnect or paused")
    direction: str | None = None
    hide_client_details: bool | None = None
    block_online_booking: bool | None = None
    reminders: bool | None = None
    last_sync_at: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    copies_restored: int = Field(default=0, description="Copies someone changed or deleted in "
                                                        "Google that were written again")
    edit_refusals: list[EditRefusalOut] = Field(
        default=[], description="Edits made in the provider to copies of bookings that the "
        "booking rules refused (edits_from_calendars 'apply'), newest first")
    calendars: list[GoogleCalendarStatus] = []
    block_out_of_office: bool | None = None
    block_tentative: bool | None = None
    block_all_day: bool | None = None
