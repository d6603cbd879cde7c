"""Path and query parameters of the JSON API (a business, a calendar, a booking, pages)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from server.api.schemas.base import Id, Input


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
