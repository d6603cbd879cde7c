"""What a running process holds: the validated configuration, the database, the keys and the
clock. Built once by the CLI (or a test) and handed to create_app and the commands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from server.clock import Clock, SystemClock
from server.config import Config
from server.db import Database
from server.publishing.davfast import FastSwitch
from server.domain.schedules import Freshness
from server.keys import Keyring, ensure_key_files, read_secret_file
from server.publishing.prerender import Prerenderer
from server.publishing.slotcache import SlotCache


@dataclass(frozen=True)
class Runtime:
    config: Config
    db: Database
    keyring: Keyring
    clock: Clock
    host_key_hash: str | None
    # CalDAV's own answers to the hot reports (server/publishing/davfast/); off only in equality tests.
    dav_fast: FastSwitch = field(default_factory=FastSwitch)
    # Feeds of new links rendered in the background (server/publishing/prerender.py).
    prerender: Prerenderer = field(default_factory=Prerenderer)
    # Open slots of `slots` links, kept per state of their inputs (server/publishing/slotcache.py).
    slot_cache: SlotCache = field(default_factory=SlotCache)

    def freshness(self, session: Session, business_id: int, calendar_ids: Sequence[int],
                  now: dt.datetime) -> Freshness:
        """The sources blocking each calendar and the business's stale-data policy, for a
        layer that may not import the sync engine (a slots feed applying "hide")."""
        from server.sync.freshness import freshness_of  # composed here, by the root
        return freshness_of(session, business_id, calendar_ids, now, self.config)


def build_runtime(config: Config, clock: Clock | None = None) -> Runtime:
    """Generate missing key files (first run), load keys, open the database engine."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    generate_host_key = not config.host_key and not config.host_key_file_explicit
    ensure_key_files(config.keys_dir, config.host_key_file if generate_host_key else None)
    keyring = Keyring.load(config.keys_dir)
    host_key = config.host_key or read_secret_file(config.host_key_file, "the host API key file")
    db = Database(config.database_url, busy_timeout=config.database_busy_timeout,
                  lock_timeout=config.database_lock_timeout,
                  pool_size=config.database_pool_size,
                  direct_url=config.database_direct_url)
    return Runtime(config=config, db=db, keyring=keyring, clock=clock or SystemClock(),
                   host_key_hash=keyring.hash_token(host_key))
