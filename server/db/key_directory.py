"""The key directory (table key_directory): the business that owns a key looked up before the
business is known, so that the lookup of the owning row is a single-shard query
(`... WHERE business_id = X AND token_hash = H`) on a cluster sharded by business_id
(docs/scaling.md, "Sharding by business").

Kinds and their keys (each the owning table's unique column):

| kind | key | owning table |
|---|---|---|
| `link` | `links.token_hash` | links |
| `api_key` | `api_keys.key_hash` | api_keys |
| `admin_email` | `admin_users.email` (lower-case) | admin_users |
| `admin_session` | `admin_sessions.token_hash` | admin_sessions |
| `google_oauth` | `google_oauth_states.state_hash` | google_oauth_states |
| `microsoft_oauth` | `microsoft_oauth_states.state_hash` | microsoft_oauth_states |

Every writer that creates, re-hashes or deletes such a row calls `register`, `replace` or
`remove` in its own transaction, so a row never exists without its entry (and the reverse):
tests/db/test_sharding.py checks the directory against the tables. Entries are written with
the session's Core statements (flushing pending ORM rows first), never committed here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, cast

from sqlalchemy import Table, and_, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from server.db.models import (
    AdminSession, AdminUser, ApiKey, GoogleOAuthState, KeyDirectoryEntry, Link,
    MicrosoftOAuthState,
)

Kind = Literal["link", "api_key", "admin_email", "admin_session", "google_oauth",
               "microsoft_oauth"]

# kind -> (owning model, its key column): the migration's fill and the tests' check read it.
OWNERS: dict[str, tuple[Any, Any]] = {
    "link": (Link, Link.token_hash),
    "api_key": (ApiKey, ApiKey.key_hash),
    "admin_email": (AdminUser, AdminUser.email),
    "admin_session": (AdminSession, AdminSession.token_hash),
    "google_oauth": (GoogleOAuthState, GoogleOAuthState.state_hash),
    "microsoft_oauth": (MicrosoftOAuthState, MicrosoftOAuthState.state_hash),
}

_ENTRY = cast(Table, KeyDirectoryEntry.__table__)


def register(session: Session, kind: Kind, key: str, business_id: int) -> None:
    """Record that `key` (of `kind`) belongs to `business_id`. A key already registered raises
    IntegrityError at once, as the owning table's unique key would."""
    session.execute(insert(_ENTRY).values(kind=kind, key=key, business_id=business_id))


def replace(session: Session, kind: Kind, old_key: str, new_key: str) -> None:
    """Move an entry to a new key (a rotated link token), keeping its business."""
    session.execute(update(_ENTRY).where(_ENTRY.c.kind == kind, _ENTRY.c.key == old_key)
                    .values(key=new_key))


def remove(session: Session, kind: Kind, keys: Iterable[str]) -> None:
    """Forget these keys (their rows are deleted in the same transaction)."""
    wanted = list(keys)
    for start in range(0, len(wanted), 500):
        session.execute(delete(_ENTRY).where(_ENTRY.c.kind == kind,
                                             _ENTRY.c.key.in_(wanted[start:start + 500])))


def remove_business(session: Session, business_id: int) -> None:
    """Forget every key of a business being deleted (its rows go by cascade)."""
    session.execute(delete(_ENTRY).where(_ENTRY.c.business_id == business_id))


def business_of(session: Session, kind: Kind, key: str) -> int | None:
    """The business owning `key`, or None for an unknown key: one primary-key read."""
    return session.execute(select(_ENTRY.c.business_id).where(
        _ENTRY.c.kind == kind, _ENTRY.c.key == key)).scalar_one_or_none()


def owned(kind: Kind, key_column: Any, business_column: Any, key: Any = None) -> Any:
    """The condition that folds the directory's read into a hot query instead of a round trip
    of its own: the owning row has the key (bound as `key`, default the bind parameter
    `digest`) and the business the directory names for it (a scalar subquery: one primary-key
    probe in the same statement). The owning table's condition so carries business_id."""
    bound = bindparam("digest") if key is None else key
    owner = select(_ENTRY.c.business_id).where(_ENTRY.c.kind == kind,
                                               _ENTRY.c.key == bound).scalar_subquery()
    return and_(business_column == owner, key_column == bound)
