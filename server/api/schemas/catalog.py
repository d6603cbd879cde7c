"""Request and response models of services and clients (and a client's erasure)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from server.api.schemas.base import Body, Minutes, Name, Output, Short, Text


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
