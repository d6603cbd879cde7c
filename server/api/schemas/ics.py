"""Request and response bodies of /api/v1/businesses/{id}/ics-sources (calendar links)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from server.api.schemas.base import Id, Input
from server.api.schemas.paths import BusinessPath


class IcsSourcePath(BusinessPath):
    source_id: Id


class IcsSourcesQuery(Input):
    calendar_id: Id | None = Field(None, description="Only this employee calendar's sources")


class IcsSourceIn(Input):
    calendar_id: Id
    url: str = Field(max_length=4000, description="The calendar's ICS link (https://, or "
                     "webcal://); stored encrypted, never shown again: only its host is")
    label: str = Field("", max_length=200, description="A name shown instead of the host")
    interval_seconds: int | None = Field(None, description="Seconds between fetches, within "
                                         "ics.min/max_interval_seconds; default: the feed's "
                                         "REFRESH-INTERVAL, else ics.default_interval_seconds")
    block_out_of_office: bool = True
    block_tentative: bool = True
    block_all_day: bool = True


class IcsSourceOut(BaseModel):
    id: int
    calendar_id: int
    host: str = Field(description="The URL's host (the URL itself is secret)")
    label: str
    state: str = Field(description="pending (never read), ok, or stale (the last fetch "
                                   "failed, or the last good read is old): the last good "
                                   "copy keeps blocking")
    synced_at: dt.datetime | None = Field(description="The last good read")
    last_error: str | None
    last_error_at: dt.datetime | None
    next_poll_at: dt.datetime | None
    interval_seconds: int
    events: int = Field(description="Events (occurrences) kept from the last good copy")
    truncated: bool = Field(description="The feed had more occurrences than ics.max_instances")
    block_out_of_office: bool
    block_tentative: bool
    block_all_day: bool


class IcsSourceList(BaseModel):
    items: list[IcsSourceOut]
