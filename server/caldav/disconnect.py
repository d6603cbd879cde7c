"""Disconnecting a CalDAV account, as Google's and Microsoft's (server/google/disconnect.py):
our copies of bookings and blocked time that have not ended are deleted from the account's
calendars (unless the admin keeps them; past copies stay as history), then the account is
forgotten (server/caldav/connections.py: its password, calendars' busy time here and the record
of our copies). Bookings stay. A copy that cannot be deleted (other than being gone already)
stops the disconnection with nothing changed; a refused password leaves the copies where they
are, and the report says so. Kept copies are found again when the same account is connected
again to the business: their names are keyed by the account, not by the forgotten connection
(server/caldav/copies.py); the first full read adopts them and they are written over in place.
Copies written under the former scheme (names keyed by the connection's row, before December
2026) are found again too: the forgotten row's id is remembered under the account, in either
keep mode (server/caldav/former_rows.py), and the new connection recognises names keyed by it;
they too are written over in place, keeping their names. (A row forgotten by a version without
that record is not remembered: copies it kept under former names stay as they are.)"""

from __future__ import annotations

from dataclasses import dataclass

from server.caldav import connections
from server.caldav.client import CalDAVClient
from server.caldav.copies import key_secret
from server.caldav.provider import make_client
from server.caldav.push import BATCH_LIMIT, CalDAVWriter
from server.db.models import CalDAVCopy
from server.errors import BookingCalError
from server.runtime import Runtime
from server.sync import health
from server.sync.copies_ahead import future_copies
from server.sync.errors import ReconnectError
from server.sync.writing import Write

REFUSED_NOTE = ("the CalDAV server no longer accepts the account's password, so our copies "
                "in its calendars could not be deleted; remove them there by hand")


@dataclass
class DisconnectReport:
    copies_deleted: int = 0
    copies_kept: int = 0
    note: str = ""


def _delete_copies(client: CalDAVClient, copies: list[tuple[str, str]]) -> int:
    writer = CalDAVWriter()
    deleted = 0
    for first in range(0, len(copies), BATCH_LIMIT):
        writes = [Write(kind="copy", item_id=first + n, calendar_id=0, seq=0,
                        remote_calendar=calendar, body=None, remote_id=remote, exists=True)
                  for n, (calendar, remote) in enumerate(copies[first:first + BATCH_LIMIT])]
        results = writer.write_batch(client, writes, None)
        failed = [r.error for r in results.values() if r.error is not None]
        if any(isinstance(error, ReconnectError) or error.status == 401 for error in failed):
            raise ReconnectError("refused")
        if failed:
            raise BookingCalError(f"{len(failed)} copies could not be deleted from the CalDAV "
                                  f"calendar ({failed[0].message}); the account stays "
                                  "connected; try again, or disconnect keeping the copies "
                                  "and delete them there by hand")
        deleted += len(results)
    return deleted


def disconnect(runtime: Runtime, business_id: int, connection_id: int, *, keep_copies: bool,
               client: CalDAVClient | None = None) -> DisconnectReport:
    report = DisconnectReport()
    with runtime.db.read() as session:
        connection = connections.get_connection(session, business_id, connection_id)
        refused = connection.status == health.NEEDS_RECONNECT
        credentials = connections.credentials(runtime.keyring, connection)
        copies = future_copies(session, CalDAVCopy, connection_id, runtime.clock.now())
    if keep_copies:
        report.copies_kept = len(copies)
    elif copies and refused:
        report.note = REFUSED_NOTE
    elif copies:
        client = client or make_client(runtime, credentials)
        try:
            report.copies_deleted = _delete_copies(client, copies)
        except ReconnectError:
            report.note = REFUSED_NOTE
        finally:
            client.close()
    with runtime.db.write() as session:
        connections.disconnect(session, business_id, connection_id,
                               secret=key_secret(runtime.keyring),
                               now=runtime.clock.now())
    return report
