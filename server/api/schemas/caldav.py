"""Request and response bodies of /api/v1/businesses/{id}/caldav/accounts (other calendars:
iCloud, Fastmail, Nextcloud, any CalDAV server). A password is only ever a request field: no
answer carries it, not even encrypted."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from server.api.schemas.base import Body, Id, Input
from server.api.schemas.paths import BusinessPath

Direction = Literal["both", "to_caldav", "from_caldav"]
Password = Annotated[str, Field(min_length=1, max_length=1024, description=(
    "An app-specific password (iCloud: appleid.apple.com; Fastmail: Settings > Privacy & "
    "Security > App passwords); stored encrypted, never shown again"))]
CalendarUrl = Annotated[str, Field(min_length=1, max_length=1024)]


class CalDAVAccountPath(BusinessPath):
    account_id: Id


class CalDAVConnectIn(Body):
    server_url: str = Field(min_length=1, max_length=1024, description=(
        "The CalDAV server (https://caldav.example.com/) or only the domain (icloud.com, "
        "fastmail.com, a Nextcloud host): discovery finds the calendars"))
    username: str = Field(min_length=1, max_length=320,
                          description="The account's user name (usually its email address)")
    password: Password
    label: str = Field("", max_length=200, description="A name (default: the user name)")
    direction: Direction = Field("both", description="Both ways, only our bookings to it "
                                 "(to_caldav), or only its busy time (from_caldav)")


class CalDAVRemoteCalendar(BaseModel):
    url: str = Field(description="The calendar's address: choose it in PATCH calendars")
    name: str
    writable: bool = Field(description="false: read-only, busy time only, no copies")
    sync_collection: bool = Field(description="false: the server does not support "
                                  "sync-collection; the calendar is polled by ETags")


class CalDAVCalendarStatus(BaseModel):
    calendar_id: int = Field(description="The employee calendar")
    name: str
    write_calendar: str = Field(description="The CalDAV calendar its bookings go to")
    read_calendar: str = Field(description="The CalDAV calendar whose busy time comes back")
    read_mode: str = Field(description='"sync-collection", "not read yet", or the polling '
                           "the server's lack of sync-collection means")
    synced_at: dt.datetime | None = Field(description="Last read of its CalDAV calendar")
    write_error: str | None = Field(description="Last failure writing to this calendar alone")
    read_error: str | None = Field(description="Last failure reading this calendar alone")
    failing_items: int = Field(description="Bookings and blocked times whose copy keeps "
                               "failing to be written")
    item_errors: list[str] = Field(default_factory=list, description=(
        "Each failing booking or blocked time: what went wrong, what to do, and when it is "
        "tried again"))


class CalDAVAccountOut(BaseModel):
    id: int
    label: str
    server_url: str = Field(description="As given when connecting")
    home_url: str = Field(description="The calendar home discovery found")
    username: str
    status: str = Field(description="connected, needs_reconnect (the password was refused: "
                        "POST .../reconnect with a new app-specific password) or paused")
    direction: Direction
    hide_client_details: bool
    block_online_booking: bool = Field(description="Busy events of the account block online "
                                       "booking")
    block_out_of_office: bool
    block_tentative: bool
    block_all_day: bool
    last_sync_at: dt.datetime | None
    last_error: str | None
    pending_changes: int = Field(description="Changes not yet written to the account")
    poll_seconds: int = Field(description="Seconds between reads of its calendars (its own "
                              "interval, else caldav.poll_seconds)")
    own_poll_seconds: int | None = Field(description="Its own interval (PATCH poll_seconds); "
                                         "null: caldav.poll_seconds")
    calendars: list[CalDAVCalendarStatus] = Field(
        description="The employee calendars taking part, each with its CalDAV calendars")


class CalDAVConnectedOut(CalDAVAccountOut):
    remote_calendars: list[CalDAVRemoteCalendar] = Field(
        description="The account's calendars discovery found; choose one per employee "
        "calendar with PATCH .../accounts/{account_id}")


class CalDAVAccountList(BaseModel):
    items: list[CalDAVAccountOut]


class CalDAVCalendarChoice(Body):
    calendar_id: Id
    write_calendar: CalendarUrl = Field(description="One of the account's calendar URLs "
                                        "(remote_calendars)")
    read_calendar: CalendarUrl | None = Field(None, description="Defaults to write_calendar")


class CalDAVSettingsIn(Body):
    direction: Direction | None = None
    hide_client_details: bool | None = None
    block_online_booking: bool | None = None
    calendars: Annotated[list[CalDAVCalendarChoice], Field(max_length=500)] | None = Field(
        None, description="The employee calendars taking part (replaces the list; [] removes "
        "them all)")
    block_out_of_office: bool | None = Field(None, description="Out-of-office events block")
    block_tentative: bool | None = Field(None, description="Tentative events block")
    block_all_day: bool | None = Field(None, description="All-day busy events block")
    poll_seconds: int | None = Field(None, ge=0, le=10_000_000, description=(
        "Seconds between reads of the account's calendars, within caldav.min_poll_seconds "
        "and caldav.max_poll_seconds; 0: back to caldav.poll_seconds"))


class CalDAVReconnectIn(Body):
    password: Password


class CalDAVDisconnectQuery(Input):
    keep_copies: bool = Field(False, description="Leave our copies of bookings in the "
                              "account's calendars (they stop being updated)")


class CalDAVDisconnectOut(BaseModel):
    copies_deleted: int
    copies_kept: int
    note: str


class CalDAVRemoteCalendarList(BaseModel):
    items: list[CalDAVRemoteCalendar]
