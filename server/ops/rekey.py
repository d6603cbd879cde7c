"""Re-encrypting stored secrets with the newest encryption key (`bookingcal keys reencrypt`),
so that an old key version can be retired.

Rotation order: `keys rotate` adds a key version; restart every server and bridge process so
each one can read it; `keys reencrypt` rewrites every stored secret under the new version (in
short batches, safe while the processes run); `keys status` then shows no secret left under the
old version, whose line can be removed from the key file."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select, update

from server.db import Database
from server.db.models import CalDAVConnection, GoogleConnection, GoogleOAuthState, IcsSource, Link
from server.keys import Keyring

BATCH = 500
# Every column that holds a Keyring ciphertext, with the table's primary key.
ENCRYPTED: tuple[tuple[Any, Any, Any], ...] = (
    (Link, Link.id, Link.token_encrypted),
    (GoogleConnection, GoogleConnection.id, GoogleConnection.refresh_token_encrypted),
    (GoogleOAuthState, GoogleOAuthState.state_hash, GoogleOAuthState.verifier_encrypted),
    (IcsSource, IcsSource.id, IcsSource.url_encrypted),
    (CalDAVConnection, CalDAVConnection.id, CalDAVConnection.password_encrypted),
)


def versions_in_use(db: Database) -> Counter[str]:
    """How many stored secrets each key version encrypts ("v1": 12, ...)."""
    counts: Counter[str] = Counter()
    with db.read() as session:
        for _, _, column in ENCRYPTED:
            version = func.substr(column, 1, func.instr(column, ":") - 1) \
                if db.is_sqlite else func.split_part(column, ":", 1)
            for name, count in session.execute(select(version, func.count()).group_by(version)):
                counts[str(name)] += int(count)
    return counts


def reencrypt(db: Database, keyring: Keyring) -> int:
    """Rewrite every secret not under the newest key version; return how many were rewritten.
    A secret that no loaded key opens stops the run with KeyFileError (nothing half-written:
    each batch is one transaction)."""
    prefix = f"v{keyring.current_version}:"
    done = 0
    for model, key, column in ENCRYPTED:
        while True:
            with db.write() as session:
                rows = session.execute(select(key, column).where(
                    ~column.startswith(prefix, autoescape=True)).order_by(key).limit(BATCH)).all()
                for row_key, ciphertext in rows:
                    session.execute(update(model).where(key == row_key).values(
                        {column.key: keyring.encrypt(keyring.decrypt(ciphertext))}))
            done += len(rows)
            if len(rows) < BATCH:
                break
    return done
