"""Push notifications: Google tells us a calendar changed (POST /google/notifications) and the
bridge syncs it at once instead of waiting for the next poll. Channels are opened only when
public_url is reachable by Google (https; loopback for tests), renewed a day before they
expire, and the old channel is stopped. Polling keeps working without any of this."""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import uuid
from urllib.parse import urlsplit

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import Config
from server.db import Database
from server.db.models import GoogleReadState
from server.db.scope import business_beside, get_of
from server.google.api import GoogleCalendarApi, GoogleError
from server.keys import Keyring, new_token
from server.runtime import Runtime

log = logging.getLogger(__name__)
NOTIFY_PATH = "/google/notifications"
RENEW_BEFORE = dt.timedelta(days=1)


def push_possible(config: Config) -> bool:
    if not config.google.push_notifications:
        return False
    parts = urlsplit(config.public_url)
    if parts.scheme == "https":
        return True
    try:
        return ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return parts.hostname == "localhost"


def renew(db: Database, keyring: Keyring, config: Config, api: GoogleCalendarApi,
          connection_id: int, now: dt.datetime, *, business_id: int) -> int:
    """Open or renew the channels of a connection's read calendars (of business
    `business_id`); returns how many. Google is called outside any transaction (a watch may
    retry for seconds): each new channel is then recorded in a short one, and the old channel
    stopped after that."""
    if not push_possible(config):
        return 0
    with db.read() as session:
        due = [(state.id, state.google_calendar) for state in session.execute(
            select(GoogleReadState).where(business_beside(GoogleReadState, business_id),
                                          GoogleReadState.connection_id == connection_id))
            .scalars() if state.channel_expires_at is None
            or state.channel_expires_at - now <= RENEW_BEFORE]
    opened = 0
    for state_id, google_calendar in due:
        token, channel_id = new_token(24), uuid.uuid4().hex
        try:
            answer = api.call(api.events().watch(calendarId=google_calendar, body={
                "id": channel_id, "type": "web_hook", "token": token,
                "address": config.public_link(NOTIFY_PATH)}))
        except GoogleError as exc:
            log.info("push channel not opened (%s); polling continues", exc.message)
            continue
        resource = str(answer.get("resourceId", ""))
        expiration = answer.get("expiration")
        with db.write() as session:
            state = get_of(session, GoogleReadState, business_id, state_id)
            old = (state.channel_id, state.channel_resource) if state is not None else \
                (channel_id, resource)  # the calendar is no longer read: stop the new one
            if state is not None:
                state.channel_id, state.channel_resource = channel_id, resource
                state.channel_token_hash = keyring.hash_token(token)
                state.channel_expires_at = (
                    dt.datetime.fromtimestamp(int(expiration) / 1000, dt.timezone.utc)
                    if expiration else now + dt.timedelta(days=7))
                opened += 1
        if old[0]:
            stop_channel(api, old[0], old[1] or "")
    return opened


def stop_channel(api: GoogleCalendarApi, channel_id: str, resource_id: str) -> bool:
    """Ask Google to stop sending notifications on a channel; False if it could not (the
    channel then expires by itself, and its notifications find no channel here)."""
    try:
        api.call(api.service.channels().stop(body={"id": channel_id,
                                                   "resourceId": resource_id}))
    except GoogleError as exc:
        if exc.status == 404:
            return True  # already stopped or expired
        log.info("push channel not stopped (%s); it expires by itself", exc.message)
        return False
    return True


def open_channels(session: Session, connection_id: int) -> list[tuple[str, str]]:
    """(channel id, resource id) of a connection's open push channels."""
    return [(state.channel_id, state.channel_resource or "") for state in session.execute(
        select(GoogleReadState).where(GoogleReadState.connection_id == connection_id,
                                      GoogleReadState.channel_id.is_not(None))).scalars()
            if state.channel_id]


def create_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("google_notifications", __name__)

    @bp.post(NOTIFY_PATH)
    def notification() -> Response:
        channel = request.headers.get("X-Goog-Channel-ID", "")
        token = request.headers.get("X-Goog-Channel-Token", "")
        with runtime.db.write() as session:
            state = session.execute(select(GoogleReadState).where(
                GoogleReadState.channel_id == channel)).scalar_one_or_none() if channel \
                else None
            expected = state.channel_token_hash if state is not None else None
            # Compared in constant time; unknown channels get the same answer.
            if state is None or not expected or not hmac.compare_digest(
                    runtime.keyring.hash_token(token), expected):
                return Response(status=404)
            if request.headers.get("X-Goog-Resource-State") != "sync":
                state.pull_requested = True
        return Response(status=204)

    return bp
