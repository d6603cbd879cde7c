"""After a restore from backup (a new database epoch), Google still holds what the bridge wrote
after the backup: copies changed or deleted since, copies of bookings the restored database
never had. Once per epoch, one bridge process (server/sync/epoch.py) queues every copy to be
written again (which restores deleted ones and undoes later edits) and forgets every Google sync
token, so the next pull reads each calendar from scratch, its whole history (a copy written
after the backup may be of a booking of any date): it reconciles the mirrored events and adopts
the unknown copies of ours, which the next push deletes (server/sync/reading.py)."""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from server.db import Database
from server.db.models import GoogleCopy, GoogleReadState
from server.sync.epoch import claim_new_epoch
from server.sync.reading import WHOLE_HISTORY

log = logging.getLogger(__name__)
KEY = "google_epoch"  # the epoch the bridge last reconciled Google with


def reconcile(session: Session) -> None:
    """Queue every copy to be written again; read every calendar again from its whole history."""
    queued = cast(CursorResult[Any], session.execute(update(GoogleCopy).where(
        GoogleCopy.deleted.is_(False)).values(sent_seq=-1))).rowcount
    session.execute(update(GoogleReadState).values(sync_token=WHOLE_HISTORY))
    log.info("new database epoch (restored from backup): %d Google copies queued to be "
             "written again; every Google calendar is read again from scratch", queued)


def reconcile_new_epoch(db: Database) -> bool:
    """True if this call started the reconciliation of a new epoch. Safe in several processes
    at once: the epoch is claimed by a conditional update that succeeds for one of them."""
    return claim_new_epoch(db, KEY, reconcile)
