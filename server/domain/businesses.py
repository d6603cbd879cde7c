"""Businesses (tenants) and their API keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import key_directory
from server.db.models import ApiKey, Business
from server.db.scope import get_of
from server.domain.timeutil import zone
from server.errors import InvalidError, NotFoundError
from server.keys import Keyring, new_token

# What online booking does with a calendar whose blocking source is stale or disconnected
# (server/sync/freshness.py, server/api/stale_policy.py).
STALE_POLICIES = ("offer", "hide", "recheck")


def create_business(session: Session, *, name: str, timezone: str, now: dt.datetime) -> Business:
    zone(timezone)
    business = Business(name=name, timezone=timezone, created_at=now)
    session.add(business)
    session.flush()
    return business


def get_business(session: Session, business_id: int) -> Business:
    business = session.get(Business, business_id)
    if business is None:
        raise NotFoundError(f"business {business_id} does not exist")
    return business


def list_businesses(session: Session, only: int | None = None) -> list[Business]:
    query = select(Business).order_by(Business.id)
    if only is not None:
        query = query.where(Business.id == only)
    return list(session.execute(query).scalars())


LIVE_CHECK_MAX_AGE_LIMIT = 86400


def update_business(session: Session, business_id: int, *, name: str | None = None,
                    timezone: str | None = None,
                    allow_cancel_from_calendar: bool | None = None,
                    calendar_moves_within_hours: bool | None = None,
                    stale_policy: str | None = None,
                    edits_from_calendars: str | None = None,
                    live_check_max_age_seconds: int | None = None,
                    default_live_check_max_age: bool = False) -> Business:
    business = get_business(session, business_id)
    if live_check_max_age_seconds is not None:
        if not 0 <= live_check_max_age_seconds <= LIVE_CHECK_MAX_AGE_LIMIT:
            raise InvalidError(f"live_check_max_age_seconds must be from 0 to "
                               f"{LIVE_CHECK_MAX_AGE_LIMIT}", field="live_check_max_age_seconds")
        business.live_check_max_age_seconds = live_check_max_age_seconds
    if default_live_check_max_age:  # back to availability.live_check_max_age_seconds
        business.live_check_max_age_seconds = None
    if stale_policy is not None:
        if stale_policy not in STALE_POLICIES:
            raise InvalidError(f"stale_policy must be one of {', '.join(STALE_POLICIES)}",
                               field="stale_policy")
        business.stale_policy = stale_policy
    if edits_from_calendars is not None:
        if edits_from_calendars not in ("rewrite", "apply"):
            raise InvalidError("edits_from_calendars must be 'rewrite' or 'apply'",
                               field="edits_from_calendars")
        business.edits_from_calendars = edits_from_calendars
    if allow_cancel_from_calendar is not None:
        business.allow_cancel_from_calendar = allow_cancel_from_calendar
    if calendar_moves_within_hours is not None:
        business.calendar_moves_within_hours = calendar_moves_within_hours
    if name is not None:
        business.name = name
    if timezone is not None:
        zone(timezone)
        business.timezone = timezone
    return business


def delete_business(session: Session, business_id: int) -> None:
    """Delete the business; its rows go by cascade, its key directory entries with them."""
    session.delete(get_business(session, business_id))
    key_directory.remove_business(session, business_id)


def create_api_key(session: Session, keyring: Keyring, business_id: int, *, label: str,
                   now: dt.datetime) -> tuple[ApiKey, str]:
    """A new business key; the secret is returned once and only its keyed hash is stored."""
    get_business(session, business_id)
    secret = "bk_" + new_token(32)
    key = ApiKey(business_id=business_id, key_hash=keyring.hash_token(secret), label=label,
                 created_at=now)
    session.add(key)
    session.flush()
    key_directory.register(session, "api_key", key.key_hash, business_id)
    return key, secret


def revoke_api_key(session: Session, business_id: int, key_id: int, now: dt.datetime) -> None:
    key = get_of(session, ApiKey, business_id, key_id)
    if key is None:
        raise NotFoundError(f"API key {key_id} does not exist in business {business_id}")
    key.revoked_at = now


def list_api_keys(session: Session, business_id: int) -> list[ApiKey]:
    return list(session.execute(select(ApiKey).where(ApiKey.business_id == business_id)
                                .order_by(ApiKey.id)).scalars())


def business_for_key(session: Session, keyring: Keyring, secret: str) -> int | None:
    """The business a key belongs to, or None for an unknown or revoked key. The lookup is by
    keyed hash, so timing does not reveal how much of a guess was right."""
    digest = keyring.hash_token(secret)
    owner = key_directory.business_of(session, "api_key", digest)
    if owner is None:
        return None
    row = session.execute(select(ApiKey.business_id, ApiKey.revoked_at).where(
        ApiKey.business_id == owner, ApiKey.key_hash == digest)).first()
    if row is None or row.revoked_at is not None:
        return None
    return row.business_id
