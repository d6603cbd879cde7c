"""Admin accounts: one e-mail and password per person, each belonging to one business. Passwords
are hashed with argon2id (memory-hard); a hash made with older parameters is renewed at the next
successful sign-in."""

from __future__ import annotations

import datetime as dt
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.admin import sessions
from server.db import key_directory
from server.db.models import AdminSession, AdminUser
from server.domain.businesses import get_business
from server.errors import ConflictError, InvalidError, NotFoundError

MIN_PASSWORD = 10
_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so that an unknown address costs as much
    time as a wrong password and the answer time does not tell which addresses exist. Made at
    the first sign-in, not at import: every server process imports this module."""
    return _HASHER.hash("not a password of anyone")


class WrongPasswordError(InvalidError):
    """The current password given to change it is wrong."""

    code = "wrong_password"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(session: Session, business_id: int, email: str, password: str,
                now: dt.datetime) -> AdminUser:
    get_business(session, business_id)
    address = normalize_email(email)
    local, _, domain = address.partition("@")
    if not local or "." not in domain or len(address) > 320 or " " in address:
        raise InvalidError(f"{email!r} is not an e-mail address", field="email")
    if len(password) < MIN_PASSWORD:
        raise InvalidError(f"the password needs at least {MIN_PASSWORD} characters",
                           field="password")
    if key_directory.business_of(session, "admin_email", address) is not None:
        raise ConflictError(f"an admin account for {address} exists already")
    user = AdminUser(business_id=business_id, email=address,
                     password_hash=_HASHER.hash(password), created_at=now)
    session.add(user)
    session.flush()
    key_directory.register(session, "admin_email", address, business_id)
    return user


def check_password(session: Session, email: str, password: str,
                   now: dt.datetime) -> AdminUser | None:
    """The account these credentials open, or None (unknown e-mail and wrong password alike)."""
    address = normalize_email(email)
    owner = key_directory.business_of(session, "admin_email", address)
    user = None if owner is None else session.execute(select(AdminUser).where(
        AdminUser.business_id == owner, AdminUser.email == address)).scalar_one_or_none()
    try:
        _HASHER.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_sign_in_at = now
    return user


def list_users(session: Session, business_id: int) -> list[AdminUser]:
    get_business(session, business_id)
    return list(session.execute(select(AdminUser).where(
        AdminUser.business_id == business_id).order_by(AdminUser.email)).scalars())


def find_user(session: Session, business_id: int, email: str) -> AdminUser:
    user = session.execute(select(AdminUser).where(
        AdminUser.business_id == business_id,
        AdminUser.email == normalize_email(email))).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"business {business_id} has no admin account {normalize_email(email)}"
                            "; see bookingcal admin list-users")
    return user


def change_password(session: Session, user_id: int, current: str, new: str) -> AdminUser:
    """Needs the current password. The caller ends the account's other sessions."""
    user = session.get(AdminUser, user_id)
    if user is None:
        raise NotFoundError(f"admin account {user_id} does not exist")
    try:
        _HASHER.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise WrongPasswordError("the current password is wrong", field="current_password") \
            from None
    if len(new) < MIN_PASSWORD:
        raise InvalidError(f"the new password needs at least {MIN_PASSWORD} characters",
                           field="new_password")
    user.password_hash = _HASHER.hash(new)
    return user


def remove_user(session: Session, business_id: int, user_id: int) -> str:
    """Delete an account and its sessions; returns its address. Never the business's last
    account: the rows of the business are locked first (PostgreSQL), so two admins removing
    each other at once cannot both succeed."""
    users = list(session.execute(select(AdminUser).where(
        AdminUser.business_id == business_id).order_by(AdminUser.id).with_for_update()
    ).scalars())
    user = next((u for u in users if u.id == user_id), None)
    if user is None:
        raise NotFoundError(f"admin account {user_id} does not exist in business {business_id}")
    if len(users) == 1:
        raise ConflictError(f"{user.email} is the last admin account of business {business_id}; "
                            "create another one before removing it")
    sessions.delete_sessions(session, AdminSession.business_id == business_id,
                             AdminSession.user_id == user.id)
    session.delete(user)
    key_directory.remove(session, "admin_email", [user.email])
    return user.email


def reset_password(session: Session, business_id: int, email: str, new: str) -> AdminUser:
    """Set a new password without the current one (the host's CLI, for a forgotten password),
    and sign the account out everywhere."""
    user = find_user(session, business_id, email)
    if len(new) < MIN_PASSWORD:
        raise InvalidError(f"the new password needs at least {MIN_PASSWORD} characters",
                           field="new_password")
    user.password_hash = _HASHER.hash(new)
    sessions.delete_sessions(session, AdminSession.business_id == business_id,
                             AdminSession.user_id == user.id)
    return user
