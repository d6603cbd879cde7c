"""Disconnecting a business's Microsoft account, as Google's (server/google/disconnect.py): our
future copies are deleted from Outlook (unless the admin keeps them), change-notification
subscriptions are deleted, the refresh token is forgotten and the mirrored Outlook events leave
the system; bookings stay. Microsoft offers an app no way to revoke one refresh token (only
all of a user's sign-in sessions), so the report says where the account's owner removes the
app's access. A copy that cannot be deleted (other than being gone already) stops the
disconnection with nothing changed."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from sqlalchemy import delete, select

from server.db.models import MicrosoftConnection, MicrosoftCopy, MicrosoftMirroredEvent
from server.db.models import MicrosoftReadState
from server.errors import BookingCalError, NotFoundError
from server.microsoft.graph import GraphClient, GraphError
from server.microsoft.push import BATCH_LIMIT, MicrosoftWriter
from server.runtime import Runtime
from server.sync.copies_ahead import future_copies
from server.sync.errors import ReconnectError, SyncError
from server.sync.writing import Write

ACCESS_NOTE = ("Microsoft keeps the app's consent until it is removed: at "
               "https://myapplications.microsoft.com (work or school) or "
               "https://account.live.com/consent/Manage (personal)")


@dataclass
class DisconnectReport:
    copies_deleted: int = 0
    copies_kept: int = 0
    subscriptions_deleted: int = 0
    revoked: bool = False  # always False: see the module's docstring
    note: str = ""


def _delete_copies(client: GraphClient, copies: list[tuple[str, str]]) -> int:
    writer = MicrosoftWriter()
    deleted = 0
    for first in range(0, len(copies), BATCH_LIMIT):
        writes = [Write(kind="copy", item_id=first + n, calendar_id=0, seq=0,
                        remote_calendar=calendar, body=None, remote_id=remote, exists=True)
                  for n, (calendar, remote) in enumerate(copies[first:first + BATCH_LIMIT])]
        results = writer.write_batch(client, writes, None)
        failed = [r.error for r in results.values() if r.error is not None]
        if any(isinstance(error, ReconnectError) for error in failed):
            raise ReconnectError("refused")
        if failed:
            raise BookingCalError(f"{len(failed)} copies could not be deleted from Outlook "
                                  f"({failed[0].message}); the account stays connected; try again")
        deleted += len(results)
    return deleted


def _delete_subscriptions(client: GraphClient, subscriptions: list[str]) -> int:
    done = 0
    for subscription in subscriptions:
        try:
            client.call("DELETE", f"/subscriptions/{urllib.parse.quote(subscription, safe='')}",
                        attempts=2)
        except GraphError as exc:
            if exc.status != 404:
                continue  # it expires by itself within three days; its notes are ignored
        except ReconnectError:
            raise
        except SyncError:
            continue
        done += 1
    return done


def disconnect(runtime: Runtime, business_id: int, *, keep_copies: bool,
               client: GraphClient | None = None) -> DisconnectReport:
    report = DisconnectReport(note=ACCESS_NOTE)
    now = runtime.clock.now()
    with runtime.db.read() as session:
        connection = session.execute(select(MicrosoftConnection).where(
            MicrosoftConnection.business_id == business_id)).scalar_one_or_none()
        if connection is None:
            raise NotFoundError(f"business {business_id} has no Microsoft account connected")
        connection_id = connection.id
        refused = connection.status == "needs_reconnect"
        token = runtime.keyring.decrypt(connection.refresh_token_encrypted)
        subscriptions = [s for s in session.execute(select(MicrosoftReadState.channel_id).where(
            MicrosoftReadState.connection_id == connection_id,
            MicrosoftReadState.channel_id.is_not(None))).scalars() if s]
        copies = future_copies(session, MicrosoftCopy, connection_id, now)
    if keep_copies:
        report.copies_kept = len(copies)
    if refused and (subscriptions or (copies and not keep_copies)):
        report.note = ("Microsoft no longer accepts the connection, so its copies in Outlook "
                       "could not be deleted; remove them there by hand. " + ACCESS_NOTE)
    elif copies and not keep_copies or subscriptions:
        client = client or GraphClient(runtime.config.microsoft, token)
        try:
            if not keep_copies:
                report.copies_deleted = _delete_copies(client, copies)
            report.subscriptions_deleted = _delete_subscriptions(client, subscriptions)
        except ReconnectError:
            report.note = ("Microsoft no longer accepts the connection's token, so the copies "
                           "in Outlook could not be deleted; remove them there by hand. "
                           + ACCESS_NOTE)
    with runtime.db.write() as session:
        session.execute(delete(MicrosoftMirroredEvent).where(
            MicrosoftMirroredEvent.connection_id == connection_id))
        found = session.get(MicrosoftConnection, connection_id)
        if found is not None:
            session.delete(found)  # maps, read states, copies and errors cascade
    return report
