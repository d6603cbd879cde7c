"""Admin accounts: one e-mail and password per person, each belonging to one business. Passwords
are hashed with argon2id (memory-hard); a hash made with older parameters is renewed at the next
successful sign-in."""

from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import AdminUser
from server.domain.businesses import get_business
from server.errors import ConflictError, InvalidError

MIN_PASSWORD = 10
_HASHER = PasswordHasher()
# Verified against when the e-mail is unknown, so that an unknown address costs as much time as
# a wrong password and the answer time does not tell which addresses exist.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


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
    if session.execute(select(AdminUser.id).where(AdminUser.email == address)).first():
        raise ConflictError(f"an admin account for {address} exists already")
    user = AdminUser(business_id=business_id, email=address,
                     password_hash=_HASHER.hash(password), created_at=now)
    session.add(user)
    session.flush()
    return user


def check_password(session: Session, email: str, password: str,
                   now: dt.datetime) -> AdminUser | None:
    """The account these credentials open, or None (unknown e-mail and wrong password alike)."""
    user = session.execute(select(AdminUser).where(
        AdminUser.email == normalize_email(email))).scalar_one_or_none()
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_sign_in_at = now
    return user
