"""Google Calendar: start the connection, read the status, change the settings."""

from __future__ import annotations

import datetime as dt

from flask import Response
from flask_openapi3 import APIBlueprint
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.api.auth import caller
from server.api.common import reply, responses, runtime, tag
from server.api.schemas.google import (
    ConsentOut, EditRefusalOut, GoogleCalendarStatus, GoogleItemError, GoogleSettingsIn,
    GoogleStatusOut,
)
from server.api.schemas.paths import BusinessPath
from server.db.models import GoogleConnection, GoogleCopy
from server.domain import calendar_edits
from server.domain.businesses import get_business
from server.google import oauth, settings

bp = APIBlueprint("google", __name__, url_prefix="/api/v1/businesses/<int:business_id>/google",
                  abp_tags=[tag("google", "Google Calendar two-way sync")],
                  abp_security=[{"bearer": []}])


def status_out(session: Session, business_id: int, now: dt.datetime) -> GoogleStatusOut:
    get_business(session, business_id)
    connection = session.execute(select(GoogleConnection).where(
        GoogleConnection.business_id == business_id)).scalar_one_or_none()
    if connection is None:
        return GoogleStatusOut(connected=False)
    return GoogleStatusOut(
        connected=True, account_email=connection.account_email or None,
        status=connection.status, direction=connection.direction,
        hide_client_details=connection.hide_client_details,
        block_online_booking=connection.block_online_booking, reminders=connection.reminders,
        last_sync_at=connection.last_sync_at, last_error=connection.last_error,
        last_error_at=connection.last_error_at,
        copies_restored=session.execute(select(func.coalesce(func.sum(
            GoogleCopy.restored_count), 0)).where(
            GoogleCopy.connection_id == connection.id)).scalar_one(),
        calendars=[GoogleCalendarStatus(**{**vars(s), "failing": [
            GoogleItemError(**vars(e)) for e in s.failing]})
                   for s in settings.calendar_status(session, connection, now)],
        block_out_of_office=connection.block_out_of_office,
        block_tentative=connection.block_tentative, block_all_day=connection.block_all_day,
        edit_refusals=[EditRefusalOut(booking_id=r.booking_id, action=r.action,
                                      reason=r.reason, at=r.created_at)
                       for r in calendar_edits.refusals(session, business_id, "google")])


@bp.post("/connect", responses=responses(ConsentOut))
def connect(path: BusinessPath) -> Response:
    """Start connecting a Google account: the answer is the consent URL (offline access,
    PKCE); Google returns the admin to /google/oauth/callback."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        url = oauth.start_consent(session, rt.keyring, rt.config, path.business_id,
                                  rt.clock.now())
    return reply(ConsentOut(consent_url=url))


@bp.get("", responses=responses(GoogleStatusOut))
def status(path: BusinessPath) -> Response:
    """Connection, settings and per-calendar status (last sync, pending changes)."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.read() as session:
        return reply(status_out(session, path.business_id, rt.clock.now()))


@bp.patch("/settings", responses=responses(GoogleStatusOut))
def update(path: BusinessPath, body: GoogleSettingsIn) -> Response:
    """Change direction, the calendars taking part, hiding client details, blocking online
    booking with busy Google events and which of them block (out-of-office, tentative,
    all-day), reminders."""
    rt = runtime()
    caller().require_business(path.business_id)
    given = body.model_dump(exclude_unset=True)
    choices = None
    if body.calendars is not None:
        choices = [settings.CalendarChoice(c.calendar_id, c.write_calendar, c.read_calendar)
                   for c in body.calendars]
    with rt.db.write() as session:
        settings.update_settings(
            session, path.business_id, now=rt.clock.now(), direction=given.get("direction"),
            hide_client_details=given.get("hide_client_details"),
            block_online_booking=given.get("block_online_booking"),
            reminders=given.get("reminders"), calendars=choices,
            block_out_of_office=given.get("block_out_of_office"),
            block_tentative=given.get("block_tentative"), block_all_day=given.get("block_all_day"))
        return reply(status_out(session, path.business_id, rt.clock.now()))
