"""Shared types of the JSON API's models: names, ids, date-times as text, the Input/Body/Output
bases (requests forbid unknown fields: a typo is a 422 naming it) and the error body."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer,
    PlainValidator, StringConstraints, WithJsonSchema, field_validator,
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
