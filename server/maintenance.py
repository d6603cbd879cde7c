"""Housekeeping: pruning the journal, SQLite backup and restore."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from server.db import Database
from server.domain import journal, republish
from server.errors import BookingCalError
from server.runtime import Runtime

log = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 3600


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


def sqlite_restore(runtime: Runtime, backup: Path) -> None:
    """Put a `db backup` folder in place of the database and key files, then start a new epoch
    so that every sync token and ETag handed out since the backup is void."""
    source = backup / "bookingcal.sqlite3"
    if not source.is_file() or not (backup / "keys").is_dir():
        raise BookingCalError(f"{backup} is not a backup folder: it needs bookingcal.sqlite3 "
                              "and keys/")
    target = sqlite_path(runtime.db)
    runtime.db.dispose()
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(source, target)
    for key_file in (backup / "keys").iterdir():
        shutil.copyfile(key_file, runtime.config.keys_dir / key_file.name)
    with runtime.db.write() as session:
        journal.new_epoch(session)
