"""Disconnecting a business's Google account: our future copies are deleted from Google (unless
the admin keeps them), push channels are stopped, the token is revoked, the mirrored Google
events leave the system; bookings stay. Changing account = disconnect, then connect again."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from server.db.models import BlockedTime, Booking, GoogleConnection, GoogleCopy
from server.domain import mirrored
from server.errors import BookingCalError
from server.google import channels, oauth
from server.google.api import GoogleCalendarApi, ReconnectError
from server.runtime import Runtime


@dataclass
class DisconnectReport:
    copies_deleted: int = 0
    copies_kept: int = 0
    channels_stopped: int = 0
    revoked: bool = False
    note: str = ""


def _future_copies(runtime: Runtime, connection_id: int,
                   now: dt.datetime) -> list[tuple[str, str]]:
    with runtime.db.read() as session:
        found = []
        for copy in session.execute(select(GoogleCopy).where(
                GoogleCopy.connection_id == connection_id,
                GoogleCopy.deleted.is_(False))).scalars():
            end = None
            if copy.kind == "booking":
                booking = session.get(Booking, copy.item_id)
                end = booking.end_utc if booking else None
            else:
                item = session.get(BlockedTime, copy.item_id)
                end = (item.series_end_utc or now + dt.timedelta(days=1)) if item else None
            if end is None or end > now:
                found.append((copy.google_calendar, copy.event_id))
        return found


def disconnect(runtime: Runtime, business_id: int, *, keep_copies: bool,
               api: GoogleCalendarApi | None = None) -> DisconnectReport:
    report = DisconnectReport()
    now = runtime.clock.now()
    with runtime.db.read() as session:
        connection = session.execute(select(GoogleConnection).where(
            GoogleConnection.business_id == business_id)).scalar_one_or_none()
        if connection is None:
            raise BookingCalError(f"business {business_id} has no Google account connected")
        connection_id = connection.id
        token = runtime.keyring.decrypt(connection.refresh_token_encrypted)
        watching = channels.open_channels(session, connection_id)
    copies = _future_copies(runtime, connection_id, now)
    if (copies and not keep_copies) or watching:
        api = api or GoogleCalendarApi(runtime.config.google, token)
    if keep_copies:
        report.copies_kept = len(copies)
    elif copies:
        assert api is not None
        try:
            events = api.events()
            results = api.batch({f"{i}": events.delete(calendarId=calendar, eventId=event_id,
                                                       sendUpdates="none")
                                 for i, (calendar, event_id) in enumerate(copies)})
        except ReconnectError:
            report.note = ("Google no longer accepts the connection's token, so the copies "
                           "in Google could not be deleted; remove them there by hand")
            results = {}
        else:
            failed = [r for r in results.values()
                      if r.error is not None and r.error.status not in (404, 410)]
            if failed:
                raise BookingCalError(f"{len(failed)} copies could not be deleted from Google "
                                      f"({failed[0].error.message if failed[0].error else ''});"
                                      " nothing was disconnected; try again")
            report.copies_deleted = len(results)
    if api is not None and not report.note:  # with a refused token no call can succeed
        for channel_id, resource_id in watching:
            try:
                report.channels_stopped += channels.stop_channel(api, channel_id, resource_id)
            except ReconnectError:
                break
    report.revoked = oauth.revoke(runtime.config, token)
    with runtime.db.write() as session:
        connection = session.get(GoogleConnection, connection_id)
        if connection is not None:
            mirrored.forget(session, connection_id)
            session.delete(connection)  # maps, copies, read states cascade
    return report
