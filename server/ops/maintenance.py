"""Housekeeping: pruning the journal, backup and restore (SQLite here, PostgreSQL through\npgdump)."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from server.admin import sessions
from server.db import Database
from server.domain import journal, republish
from server.errors import BookingCalError
from server.keys import KeyFileError, Keyring, write_secret_file
from server.ops import pgdump
from server.runtime import Runtime

log = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 3600
SQLITE_NAME = "bookingcal.sqlite3"


def prune_journal(runtime: Runtime) -> int:
    with runtime.db.write() as session:
        return journal.prune(session, runtime.clock.now(), runtime.config.journal_retention_days)


def start_pruner(runtime: Runtime, stop: threading.Event) -> threading.Thread:
    """Finish interrupted re-publishing now, then prune hourly until `stop` is set. Several
    processes may do both at once: each step is idempotent."""

    def loop() -> None:
        while True:
            try:
                resumed = republish.resume_all(runtime.db, runtime.clock.now())
                if resumed:
                    log.info("re-published %d bookings after an interrupted rename", resumed)
            except BookingCalError as exc:
                log.warning("re-publishing postponed: %s", exc.message)
            if stop.wait(PRUNE_EVERY_SECONDS):
                return
            try:
                removed = prune_journal(runtime)
                log.info("journal pruned: %d entries", removed)
                with runtime.db.write() as session:
                    ended = sessions.prune_expired(session, runtime.clock.now())
                log.info("expired admin sessions removed: %d", ended)
            except BookingCalError as exc:
                log.warning("journal pruning skipped: %s", exc.message)

    thread = threading.Thread(target=loop, name="journal-pruner", daemon=True)
    thread.start()
    return thread


def sqlite_path(db: Database) -> Path:
    database = make_url(db.url).database
    if not db.is_sqlite or not database:
        raise BookingCalError("this needs the SQLite database")
    return Path(database)


def sqlite_backup(db: Database, target: Path) -> None:
    """A consistent copy of the live database (VACUUM INTO runs in one read transaction, so
    writers may go on meanwhile)."""
    source = sqlite_path(db)
    with sqlite3.connect(source) as connection:
        connection.execute("VACUUM INTO ?", (str(target),))
    connection.close()


def backup(runtime: Runtime, target: Path) -> None:
    """Write the database (SQLite: a consistent copy; PostgreSQL: pg_dump) and the key files
    into the existing, empty folder `target`. The servers may keep running. The folder is
    made private (0700): it holds client data and the keys that decrypt the stored secrets."""
    target.chmod(0o700)
    if runtime.db.is_sqlite:
        sqlite_backup(runtime.db, target / SQLITE_NAME)
    else:
        pgdump.dump(runtime.db.direct_url, target / pgdump.DUMP_NAME)
    shutil.copytree(runtime.config.keys_dir, target / "keys")


def restore(runtime: Runtime, backup: Path) -> None:
    """Put a `db backup` folder in place of the database and key files (servers and bridges
    stopped), then start a new epoch so that every sync token and ETag handed out since the
    backup is void."""
    name, other = (SQLITE_NAME, pgdump.DUMP_NAME) if runtime.db.is_sqlite else \
        (pgdump.DUMP_NAME, SQLITE_NAME)
    source = backup / name
    if not source.is_file() and (backup / other).is_file():
        kinds = ("PostgreSQL", "SQLite") if runtime.db.is_sqlite else ("SQLite", "PostgreSQL")
        raise BookingCalError(f"{backup} holds a {kinds[0]} backup ({other}) but the "
                              f"configured database is {kinds[1]}")
    if not source.is_file() or not (backup / "keys").is_dir():
        raise BookingCalError(f"{backup} is not a backup folder: it needs {name} and keys/")
    try:  # the backup's key files must be whole before anything is replaced
        Keyring.load(backup / "keys")
    except KeyFileError as exc:
        raise BookingCalError(f"{backup} has no usable key files, nothing was restored: "
                              f"{exc}") from None
    runtime.db.dispose()
    if runtime.db.is_sqlite:
        _restore_sqlite_file(source, sqlite_path(runtime.db))
    else:
        pgdump.restore(runtime.db.direct_url, source)
    for key_file in (backup / "keys").iterdir():
        if key_file.is_file():
            _replace_secret_file(key_file, runtime.config.keys_dir / key_file.name)
    with runtime.db.write() as session:
        journal.new_epoch(session)


def _restore_sqlite_file(source: Path, target: Path) -> None:
    """Copy the backup next to the database, check it, then swap it in: a failed copy or a
    damaged backup leaves the database as it was."""
    staged = target.with_name(target.name + ".restoring")
    try:
        shutil.copyfile(source, staged)
        with sqlite3.connect(staged) as connection:
            check = connection.execute("PRAGMA quick_check").fetchone()
        connection.close()
        if not check or check[0] != "ok":
            raise BookingCalError(f"{source} is damaged ({check[0] if check else 'empty'}); "
                                  "nothing was restored: use another backup")
    except (OSError, sqlite3.DatabaseError) as exc:
        staged.unlink(missing_ok=True)
        raise BookingCalError(f"{source} cannot be restored ({exc}); nothing was restored: "
                              "use another backup") from None
    except BookingCalError:
        staged.unlink(missing_ok=True)
        raise
    for suffix in ("-wal", "-shm"):  # the old database's log must not be applied to the new
        Path(str(target) + suffix).unlink(missing_ok=True)
    os.replace(staged, target)


def _replace_secret_file(source: Path, target: Path) -> None:
    """Replace a key file with mode 0600 content, atomically."""
    staged = target.with_name(target.name + ".restoring")
    staged.unlink(missing_ok=True)
    if not write_secret_file(staged, source.read_text(encoding="ascii")):
        raise BookingCalError(f"{staged} could not be created; remove it and restore again")
    os.replace(staged, target)
