"""Other calendars (iCloud, Fastmail, Nextcloud, any CalDAV server): connect an account
(discovery finds its calendars), list the accounts with their state, choose the calendars and
settings, ask for a read, give a new app password, disconnect. Every action calls what the CLI
and the admin page call (server/caldav/); no answer carries a password."""

from __future__ import annotations

import dataclasses

from flask import Response
from flask_openapi3 import APIBlueprint
from sqlalchemy.orm import Session

from server.api.auth import caller
from server.api.schemas.caldav import (
    CalDAVAccountList, CalDAVAccountOut, CalDAVAccountPath, CalDAVConnectIn, CalDAVConnectedOut,
    CalDAVDisconnectOut, CalDAVDisconnectQuery, CalDAVReconnectIn, CalDAVRemoteCalendar,
    CalDAVRemoteCalendarList, CalDAVSettingsIn,
)
from server.api.schemas.paths import BusinessPath
from server.api.common import reply, responses, runtime, tag
from server.caldav import connections, discovery
from server.caldav.disconnect import disconnect as disconnect_account
from server.caldav.status import accounts
from server.domain.businesses import get_business

bp = APIBlueprint("caldav", __name__,
                  url_prefix="/api/v1/businesses/<int:business_id>/caldav/accounts",
                  abp_tags=[tag("caldav", "Other calendars (iCloud, Fastmail, Nextcloud, "
                                "CalDAV) two-way")],
                  abp_security=[{"bearer": []}])


def _account(session: Session, business_id: int, account_id: int) -> CalDAVAccountOut:
    rt = runtime()
    [found] = accounts(session, business_id, rt.clock.now(), rt.config.caldav,
                       only=account_id)
    return CalDAVAccountOut(**dataclasses.asdict(found))


def _remote(found: discovery.Account) -> list[CalDAVRemoteCalendar]:
    return [CalDAVRemoteCalendar(**dataclasses.asdict(item)) for item in found.calendars]


@bp.get("", responses=responses(CalDAVAccountList))
def list_accounts(path: BusinessPath) -> Response:
    """The business's CalDAV accounts: health, last error, the employee calendars taking part
    and how each is read."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.read() as session:
        get_business(session, path.business_id)
        found = accounts(session, path.business_id, rt.clock.now(),
                         rt.config.caldav)
    return reply(CalDAVAccountList(items=[CalDAVAccountOut(**dataclasses.asdict(item))
                                          for item in found]))


@bp.post("", responses=responses(CalDAVConnectedOut, 201))
def connect(path: BusinessPath, body: CalDAVConnectIn) -> Response:
    """Find the account's calendars (RFC 6764 discovery) and store the account, its password
    encrypted; the answer lists the calendars found. Connecting an account that needs
    reconnecting again renews its password (settings and copies kept)."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.read() as session:
        get_business(session, path.business_id)
    username = body.username.strip()
    found = discovery.discover_configured(rt.config.caldav, body.server_url, username,
                                          body.password)
    with rt.db.write() as session:
        number = connections.connect(
            session, rt.keyring, path.business_id, server_url=body.server_url,
            username=username, password=body.password, account=found, now=rt.clock.now(),
            label=body.label, direction=body.direction).id
    with rt.db.read() as session:
        made = _account(session, path.business_id, number)
    return reply(CalDAVConnectedOut(**made.model_dump(), remote_calendars=_remote(found)), 201)


@bp.get("/<int:account_id>", responses=responses(CalDAVAccountOut))
def get_account(path: CalDAVAccountPath) -> Response:
    """One account: health, last error, settings, calendars taking part."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.read() as session:
        return reply(_account(session, path.business_id, path.account_id))


@bp.get("/<int:account_id>/calendars", responses=responses(CalDAVRemoteCalendarList))
def remote_calendars(path: CalDAVAccountPath) -> Response:
    """The account's calendars as the server has them now (asked with the stored password)."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.read() as session:
        row = connections.get_connection(session, path.business_id, path.account_id)
        server_url, username = row.server_url, row.username
        password = rt.keyring.decrypt(row.password_encrypted)
    found = discovery.discover_configured(rt.config.caldav, server_url, username, password)
    return reply(CalDAVRemoteCalendarList(items=_remote(found)))


@bp.patch("/<int:account_id>", responses=responses(CalDAVAccountOut))
def update(path: CalDAVAccountPath, body: CalDAVSettingsIn) -> Response:
    """Change direction, hiding client details, blocking online booking (and which busy
    events block), which of the account's calendars each employee calendar takes part with,
    and how often the account is read; fields not given stay as they are."""
    rt = runtime()
    caller().require_business(path.business_id)
    given = body.model_dump(exclude_unset=True)
    choices = None
    if body.calendars is not None:
        choices = [connections.CalendarChoice(c.calendar_id, c.write_calendar, c.read_calendar)
                   for c in body.calendars]
    with rt.db.write() as session:
        connections.update_settings(
            session, path.business_id, path.account_id, now=rt.clock.now(),
            direction=given.get("direction"),
            hide_client_details=given.get("hide_client_details"),
            block_online_booking=given.get("block_online_booking"), calendars=choices,
            block_out_of_office=given.get("block_out_of_office"),
            block_tentative=given.get("block_tentative"), block_all_day=given.get("block_all_day"),
            poll_seconds=given.get("poll_seconds"), settings=rt.config.caldav)
    with rt.db.read() as session:
        return reply(_account(session, path.business_id, path.account_id))


@bp.post("/<int:account_id>/sync", responses=responses(CalDAVAccountOut))
def sync(path: CalDAVAccountPath) -> Response:
    """Read every calendar of the account at the bridge's next pass, whatever the poll
    interval (its writes follow changes by themselves)."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.write() as session:
        connections.request_read(session, path.business_id, path.account_id)
    with rt.db.read() as session:
        return reply(_account(session, path.business_id, path.account_id))


@bp.post("/<int:account_id>/reconnect", responses=responses(CalDAVAccountOut))
def reconnect(path: CalDAVAccountPath, body: CalDAVReconnectIn) -> Response:
    """A new app-specific password (after the server refused the old one: status
    needs_reconnect); checked by discovery first, the settings, calendars and copies kept."""
    rt = runtime()
    caller().require_business(path.business_id)
    with rt.db.read() as session:
        row = connections.get_connection(session, path.business_id, path.account_id)
        server_url, username = row.server_url, row.username
    found = discovery.discover_configured(rt.config.caldav, server_url, username, body.password)
    with rt.db.write() as session:
        connections.reconnect(session, rt.keyring, path.business_id, path.account_id,
                              password=body.password, account=found, now=rt.clock.now())
    with rt.db.read() as session:
        return reply(_account(session, path.business_id, path.account_id))


@bp.delete("/<int:account_id>", responses=responses(CalDAVDisconnectOut))
def disconnect(path: CalDAVAccountPath, query: CalDAVDisconnectQuery) -> Response:
    """Disconnect the account: our copies of bookings that have not ended are deleted from its
    calendars (unless keep_copies=true), then its password, its busy time here and the record
    of our copies are forgotten. Bookings stay."""
    rt = runtime()
    caller().require_business(path.business_id)
    report = disconnect_account(rt, path.business_id, path.account_id,
                                keep_copies=query.keep_copies)
    return reply(CalDAVDisconnectOut(**dataclasses.asdict(report)))
