"""Services a business offers: duration and the buffers kept free before and after."""

from __future__ import annotations

import datetime as dt
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Booking, Service
from server.db.scope import get_of
from server.domain import republish
from server.domain.businesses import get_business
from server.errors import ConflictError, InvalidError, NotFoundError


def _check(duration: int | None, before: int | None, after: int | None) -> None:
    if duration is not None and not 1 <= duration <= 24 * 60:
        raise InvalidError("duration_minutes must be from 1 to 1440", field="duration_minutes")
    for field, value in (("buffer_before_minutes", before), ("buffer_after_minutes", after)):
        if value is not None and not 0 <= value <= 24 * 60:
            raise InvalidError(f"{field} must be from 0 to 1440", field=field)


class Keep(Enum):
    """A field left as it is (None already means "the configured default")."""

    KEEP = 0


KEEP = Keep.KEEP
RULES = ("slot_step_minutes", "min_notice_minutes", "max_horizon_days")


def _check_rules(step: int | None | Keep, notice: int | None | Keep,
                 horizon: int | None | Keep) -> None:
    for field, value, low, high in (("slot_step_minutes", step, 1, 1440),
                                    ("min_notice_minutes", notice, 0, 525600),
                                    ("max_horizon_days", horizon, 1, 3650)):
        if isinstance(value, int) and not low <= value <= high:
            raise InvalidError(f"{field} must be from {low} to {high}, or null for the "
                               "configured default", field=field)


def get_service(session: Session, business_id: int, service_id: int) -> Service:
    service = get_of(session, Service, business_id, service_id)
    if service is None:
        raise NotFoundError(f"service {service_id} does not exist in business {business_id}")
    return service


def list_services(session: Session, business_id: int) -> list[Service]:
    return list(session.execute(select(Service).where(Service.business_id == business_id)
                                .order_by(Service.id)).scalars())


def create_service(session: Session, business_id: int, *, name: str, duration_minutes: int,
                   now: dt.datetime, buffer_before_minutes: int = 0,
                   buffer_after_minutes: int = 0, active: bool = True,
                   slot_step_minutes: int | None = None, min_notice_minutes: int | None = None,
                   max_horizon_days: int | None = None) -> Service:
    get_business(session, business_id)
    _check(duration_minutes, buffer_before_minutes, buffer_after_minutes)
    _check_rules(slot_step_minutes, min_notice_minutes, max_horizon_days)
    service = Service(business_id=business_id, name=name, duration_minutes=duration_minutes,
                      buffer_before_minutes=buffer_before_minutes,
                      buffer_after_minutes=buffer_after_minutes, active=active,
                      slot_step_minutes=slot_step_minutes,
                      min_notice_minutes=min_notice_minutes, max_horizon_days=max_horizon_days,
                      created_at=now, updated_at=now)
    session.add(service)
    session.flush()
    return service


def update_service(session: Session, business_id: int, service_id: int, *, now: dt.datetime,
                   name: str | None = None, duration_minutes: int | None = None,
                   buffer_before_minutes: int | None = None,
                   buffer_after_minutes: int | None = None,
                   active: bool | None = None, slot_step_minutes: int | None | Keep = KEEP,
                   min_notice_minutes: int | None | Keep = KEEP,
                   max_horizon_days: int | None | Keep = KEEP) -> Service:
    """Change a service. Existing bookings keep their times and occupied intervals; the new
    duration and buffers apply to bookings created or moved from now on. The online booking
    rules take None for "the configured default" and KEEP (the default) for unchanged."""
    service = get_service(session, business_id, service_id)
    _check(duration_minutes, buffer_before_minutes, buffer_after_minutes)
    _check_rules(slot_step_minutes, min_notice_minutes, max_horizon_days)
    for rule, given in zip(RULES, (slot_step_minutes, min_notice_minutes, max_horizon_days)):
        if not isinstance(given, Keep):
            setattr(service, rule, given)
    if name is not None and name != service.name:
        republish.mark(service)
    for field, value in (("name", name), ("duration_minutes", duration_minutes),
                         ("buffer_before_minutes", buffer_before_minutes),
                         ("buffer_after_minutes", buffer_after_minutes), ("active", active)):
        if value is not None:
            setattr(service, field, value)
    service.updated_at = now
    return service


def delete_service(session: Session, business_id: int, service_id: int) -> None:
    service = get_service(session, business_id, service_id)
    used = session.execute(select(Booking.id).where(Booking.service_id == service_id).limit(1))
    if used.first():
        raise ConflictError(f"service {service_id} has bookings; deactivate it instead "
                            "(active: false)")
    session.delete(service)
