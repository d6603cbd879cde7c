"""Signed-in browsers. The cookie carries a random 192-bit token; the database keeps only its
keyed hash (HMAC with the token-hashing key), so neither a database copy nor a log opens a
session, and deleting the row (sign-out, or deleting the account) ends it at once. The CSRF token
of a session is derived from the session token with the same key, so it needs no storage and
changes with every sign-in."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from server.db import key_directory
from server.db.models import AdminSession, AdminUser
from server.keys import Keyring, new_token

COOKIE = "bookingcal_admin"


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    business_id: int
    email: str
    csrf: str


def start(session: Session, keyring: Keyring, user: AdminUser, now: dt.datetime,
          lifetime: dt.timedelta) -> str:
    """A new session for `user`; returns the token for the cookie. The business's expired
    sessions go (those of every business: `prune_expired`, hourly)."""
    delete_sessions(session, AdminSession.business_id == user.business_id,
                    AdminSession.expires_at < now)
    token = new_token(24)
    digest = keyring.hash_token(token)
    session.add(AdminSession(token_hash=digest, user_id=user.id,
                             business_id=user.business_id,
                             created_at=now, expires_at=now + lifetime))
    key_directory.register(session, "admin_session", digest, user.business_id)
    return token


def prune_expired(session: Session, now: dt.datetime) -> int:
    """Delete every business's expired sessions (a background job spanning businesses by
    design); returns how many went."""
    return delete_sessions(session, AdminSession.expires_at < now)


def delete_sessions(session: Session, *where: Any) -> int:
    """Delete the sessions matching `where`, and their key directory entries; returns how
    many went."""
    hashes = session.execute(delete(AdminSession).where(*where)
                             .returning(AdminSession.token_hash)).scalars().all()
    key_directory.remove(session, "admin_session", hashes)
    return len(hashes)


def csrf_token(keyring: Keyring, token: str) -> str:
    return keyring.hash_token("csrf:" + token)


def find(session: Session, keyring: Keyring, token: str, now: dt.datetime) -> SignedIn | None:
    """Who a cookie's token signs in, or None (unknown, expired, signed out)."""
    if not token or len(token) > 100:
        return None
    digest = keyring.hash_token(token)
    owner = key_directory.business_of(session, "admin_session", digest)
    if owner is None:
        return None
    row = session.execute(select(AdminSession, AdminUser).join(
        AdminUser, and_(AdminUser.id == AdminSession.user_id,
                        AdminUser.business_id == AdminSession.business_id)).where(
        AdminSession.business_id == owner, AdminSession.token_hash == digest)).first()
    if row is None or row[0].expires_at <= now:
        return None
    user = row[1]
    return SignedIn(user_id=user.id, business_id=user.business_id, email=user.email,
                    csrf=csrf_token(keyring, token))


def csrf_matches(signed_in: SignedIn, given: str) -> bool:
    return bool(given) and hmac.compare_digest(signed_in.csrf, given)


def end(session: Session, keyring: Keyring, token: str) -> None:
    digest = keyring.hash_token(token)
    owner = key_directory.business_of(session, "admin_session", digest)
    if owner is not None:
        delete_sessions(session, AdminSession.business_id == owner,
                        AdminSession.token_hash == digest)


def end_others(session: Session, keyring: Keyring, business_id: int, user_id: int,
               keep_token: str) -> None:
    """Sign the account out everywhere but in the browser holding `keep_token` (one
    business's sessions: a single-shard statement on a sharded cluster)."""
    delete_sessions(session, AdminSession.business_id == business_id,
                    AdminSession.user_id == user_id,
                    AdminSession.token_hash != keyring.hash_token(keep_token))
