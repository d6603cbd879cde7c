"""Declared request and response models of the JSON API (they also make the OpenAPI document).
Request models forbid unknown fields, so a typo is a 422 that names it, not a silent no-op."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PlainValidator,
    StringConstraints, WithJsonSchema, field_validator,
)

from server.domain.timeutil import EARLIEST, LATEST

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=10_000)]
Short = Annotated[str, StringConstraints(max_length=320)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Minutes = Annotated[int, Field(ge=0, le=1440)]


def _date_or_datetime(value: Any) -> dt.date | dt.datetime:
    """"2026-12-24" is a date, "2026-12-24T09:00[:00][+01:00]" a date-time."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return dt.date.fromisoformat(value)
            if "T" in value:
                return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("expected a date (YYYY-MM-DD) or a date-time (YYYY-MM-DDTHH:MM, "
                     "optionally with seconds and an offset)")


DateOrTime = Annotated[dt.date | dt.datetime, PlainValidator(_date_or_datetime),
                       WithJsonSchema({"anyOf": [{"type": "string", "format": "date"},
                                                 {"type": "string", "format": "date-time"}]})]


LOCAL_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"
TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"


def _datetime_text(value: Any) -> dt.datetime:
    """A date-time given as text (ISO 8601); a number is refused, never read as epoch seconds."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("expected a date-time as text: YYYY-MM-DDTHH:MM[:SS], optionally with an "
                     "offset such as +01:00 or Z")


def _date_or_datetime_text(value: Any) -> dt.date | dt.datetime:
    """A booking's start or end: "2026-12-24" is a date (all-day), anything else a date-time
    read as `_datetime_text` reads it."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return _datetime_text(value)


def _time_text(value: Any) -> dt.time:
    """A wall-clock time of day as text, HH:MM or HH:MM:SS, without an offset."""
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str) and len(value) in (5, 8):
        try:
            parsed = dt.time.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None and not parsed.microsecond:
                return parsed
    raise ValueError("expected a time of day as text, HH:MM or HH:MM:SS, without an offset")


# Inputs take date-times as text only; "format: date-time" (RFC 3339, with an offset) is what
# generated clients send, and local wall-clock time without an offset is accepted as well.
DateTimeIn = Annotated[dt.datetime, BeforeValidator(_datetime_text),
                       WithJsonSchema({"type": "string", "format": "date-time"})]
AwareDateTimeIn = Annotated[AwareDatetime, BeforeValidator(_datetime_text),
                            WithJsonSchema({"type": "string", "format": "date-time"})]
# Wall-clock times carry no offset, so they are not RFC 3339 date-times or times.
BookingWhen = Annotated[dt.date | dt.datetime, PlainValidator(_date_or_datetime_text),
                        WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"},
                                                  {"type": "string", "format": "date"}]})]
LocalDateTime = Annotated[dt.datetime, WithJsonSchema({
    "type": "string", "pattern": LOCAL_PATTERN,
    "description": "Local wall-clock time in the calendar's zone, without an offset"})]
TimeOfDay = Annotated[dt.time, BeforeValidator(_time_text),
                      PlainSerializer(lambda value: value.isoformat(), return_type=str),
                      WithJsonSchema({"type": "string", "pattern": TIME_PATTERN,
                                      "description": "Local time of day, HH:MM[:SS]"})]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """No NUL characters anywhere (PostgreSQL cannot store them; no calendar shows them)."""
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("text must not contain NUL characters")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _dates_in_range(cls, value: Any) -> Any:
        """Dates and times from EARLIEST to LATEST (server/domain/timeutil.py)."""
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, dt.date) and not EARLIEST.year <= item.year < LATEST.year
               for item in items):
            raise ValueError(f"dates must lie between {EARLIEST} and {LATEST}")
        return value


class Body(Input):
    """A JSON request body: types are strict ("30" is no number, true no integer, a number no
    date-time), unlike path and query values, which arrive as text."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- errors -------------------------------------------------------------------------------

class ErrorBody(BaseModel):
    status: int = Field(description="The HTTP status, repeated")
    code: str = Field(description="Machine-readable kind: bad_request, unauthorized, forbidden, "
                                  "not_found, conflict, gone, payload_too_large, invalid, busy, "
                                  "unavailable, internal")
    message: str = Field(description="What went wrong and what to change, for a person")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """The one shape of every error the API returns."""

    error: ErrorBody


# --- paths and queries ----------------------------------------------------------------------

class BusinessPath(Input):
    business_id: Id


class KeyPath(BusinessPath):
    key_id: Id


class CalendarPath(BusinessPath):
    calendar_id: Id


class ExceptionPath(CalendarPath):
    day: dt.date


class ServicePath(BusinessPath):
    service_id: Id


class ClientPath(BusinessPath):
    client_id: Id


class BookingPath(BusinessPath):
    booking_id: Id


class BlockedPath(BusinessPath):
    blocked_id: Id


class PageQuery(Input):
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: str | None = Field(None, description="next_cursor of the previous page")


class BookingQuery(PageQuery):
    start: AwareDatetime = Field(description="Range start, with offset (2026-11-24T00:00:00Z)")
    end: AwareDatetime = Field(description="Range end (exclusive), with offset")
    calendar_id: Id | None = None
    client_id: Id | None = None
    status: Literal["confirmed", "cancelled"] | None = None


class BlockedQuery(Input):
    calendar_id: Id | None = None


class ChangesQuery(Input):
    since: str | None = Field(None, description="A sync token from an earlier answer; omit for "
                                                "every change the journal still holds")


# --- businesses and keys --------------------------------------------------------------------

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


# --- calendars ------------------------------------------------------------------------------

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
    created_at: dt.datetime


class PersonalCalendarList(BaseModel):
    items: list[PersonalCalendarOut]


class PersonalCalendarPatch(Body):
    blocks: bool


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
    kind: str = Field(description="booking, blocked or calendar")
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


# --- services and clients -------------------------------------------------------------------

StepMinutes = Annotated[int, Field(ge=1, le=1440, description="Minutes between online start "
                                   "times; null takes availability.slot_step_minutes")]
NoticeMinutes = Annotated[int, Field(ge=0, le=525600, description="Minimum notice of online "
                                     "bookings; null takes availability.min_notice_minutes")]
HorizonDays = Annotated[int, Field(ge=1, le=3650, description="Online bookings at most this "
                                   "many days ahead; null takes availability.max_horizon_days")]


class ServiceIn(Body):
    name: Name
    duration_minutes: Annotated[int, Field(ge=1, le=1440)]
    buffer_before_minutes: Minutes = 0
    buffer_after_minutes: Minutes = 0
    active: bool = True
    slot_step_minutes: StepMinutes | None = None
    min_notice_minutes: NoticeMinutes | None = None
    max_horizon_days: HorizonDays | None = None


class ServicePatch(Body):
    name: Name | None = None
    duration_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    buffer_before_minutes: Minutes | None = None
    buffer_after_minutes: Minutes | None = None
    active: bool | None = None
    slot_step_minutes: StepMinutes | None = None
    min_notice_minutes: NoticeMinutes | None = None
    max_horizon_days: HorizonDays | None = None


class ServiceOut(Output):
    id: int
    name: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    active: bool
    slot_step_minutes: int | None = None
    min_notice_minutes: int | None = None
    max_horizon_days: int | None = None


class ServiceList(BaseModel):
    items: list[ServiceOut]


class ClientIn(Body):
    name: Name
    email: Short | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    address: Text | None = None
    notes: Text | None = None


class ClientPatch(Body):
    name: Name | None = None
    email: Short | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    address: Text | None = None
    notes: Text | None = None


class ClientOut(Output):
    id: int
    name: str
    email: str | None
    phone: str | None
    address: str | None
    notes: str | None
    erased: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ClientList(BaseModel):
    items: list[ClientOut]
    next_cursor: str | None


class EraseOut(BaseModel):
    client: ClientOut
    bookings_rewritten: int


# --- bookings and blocked time --------------------------------------------------------------

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


# --- private links --------------------------------------------------------------------------

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


# --- Google Calendar ------------------------------------------------------------------------

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
