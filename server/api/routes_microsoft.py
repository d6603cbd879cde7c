"""Microsoft 365 / Outlook: start the connection, read the status, change the settings."""

from __future__ import annotations

import datetime as dt

from flask import Response
from flask_openapi3 import APIBlueprint
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.auth import caller
from server.api.common import reply, responses, runtime, tag
from server.api.schemas.google import ConsentOut, EditRefusalOut
from server.api.schemas.microsoft import (
    MicrosoftCalendarStatus, MicrosoftDisconnectIn, MicrosoftDisconnectOut, MicrosoftItemError,
    MicrosoftSettingsIn, MicrosoftStatusOut,
)
from server.api.schemas.paths import BusinessPath
from server.db.models import MicrosoftConnection
from server.domain import calendar_edits
from server.domain.businesses import get_business
from server.microsoft import connections, oauth
from server.microsoft.disconnect import disconnect as disconnect_account
from server.microsoft.status import calendar_status

bp = APIBlueprint("microsoft", __name__,
                  url_prefix="/api/v1/businesses/<int:business_id>/microsoft",
                  abp_tags=[tag("microsoft", "Microsoft 365 / Outlook two-way sync")],
                  abp_security=[{"bearer": []}])


def status_out(session: Session, business_id: int, now: dt.datetime) -> MicrosoftStatusOut:
    get_business(session, business_id)
    connection = session.execute(select(MicrosoftConnection).where(
        MicrosoftConnection.business_id == business_id)).scalar_one_or_none()
    if connection is None:
        return MicrosoftStatusOut(connected=False)
    return MicrosoftStatusOut(
        connected=True, account_email=connection.account_email or None,
        status=connection.status, direction=connection.direction,
        hide_client_details=connection.hide_client_details,
        block_online_booking=connection.block_online_booking,
        last_sync_at=connection.last_sync_at, last_error=connection.last_error,
        last_error_at=connection.last_error_at,
        calendars=[MicrosoftCalendarStatus(**{**vars(s), "failing": [
            MicrosoftItemError(**vars(e)) for e in s.failing]})
                   for s in calendar_status(session, connection, now)],
        block_out_of_office=connection.block_out_of_office,
        block_tentative=connection.block_tentative, block_all_day=connection.block_all_day,
        edit_refusals=[EditRefusalOut(booking_id=r.booking_id, action=r.action,
                                      reason=r.reason, at=r.created_at)
                       for r in calendar_edits.refusals(session, business_id, "microsoft")])


@bp.post("/connect", responses=responses(ConsentOut))
def connect(path: BusinessPath) -> Response:
    """Start connecting a Microsoft account: the answer is the consent URL (authorization code
    with PKCE); Microsoft returns the admin to /microsoft/oauth/callback."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        url = oauth.start_consent(session, rt.keyring, rt.config, path.business_id,
                                  rt.clock.now())
    return reply(ConsentOut(consent_url=url))


@bp.get("", responses=responses(MicrosoftStatusOut))
def status(path: BusinessPath) -> Response:
    """Connection, settings and the calendars taking part."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.read() as session:
        return reply(status_out(session, path.business_id, rt.clock.now()))


@bp.patch("/settings", responses=responses(MicrosoftStatusOut))
def update(path: BusinessPath, body: MicrosoftSettingsIn) -> Response:
    """Change direction, the calendars taking part, hiding client details, blocking online
    booking with busy Outlook events and which of them block."""
    rt = runtime()
    caller().require_business(path.business_id)
    given = body.model_dump(exclude_unset=True)
    choices = None
    if body.calendars is not None:
        choices = [connections.CalendarChoice(c.calendar_id, c.write_calendar, c.read_calendar)
                   for c in body.calendars]
    with rt.db.write() as session:
        connections.update_settings(
            session, path.business_id, now=rt.clock.now(), direction=given.get("direction"),
            hide_client_details=given.get("hide_client_details"),
            block_online_booking=given.get("block_online_booking"), calendars=choices,
            block_out_of_office=given.get("block_out_of_office"),
            block_tentative=given.get("block_tentative"), block_all_day=given.get("block_all_day"))
        return reply(status_out(session, path.business_id, rt.clock.now()))


@bp.post("/disconnect", responses=responses(MicrosoftDisconnectOut))
def disconnect(path: BusinessPath, body: MicrosoftDisconnectIn) -> Response:
    """Disconnect the Microsoft account: our future copies are deleted from Outlook (unless
    keep_copies), subscriptions deleted, the token forgotten, the mirrored Outlook events
    removed. Bookings stay."""
    rt = runtime()
    caller().require_business(path.business_id)
    report = disconnect_account(rt, path.business_id, keep_copies=body.keep_copies)
    return reply(MicrosoftDisconnectOut(**vars(report)))
