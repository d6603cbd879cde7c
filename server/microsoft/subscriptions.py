"""Change notifications: Graph tells us an Outlook calendar changed (POST
/microsoft/notifications) and the bridge reads it at once instead of waiting for the next poll.
A subscription per read calendar, with a random `clientState` (stored hashed, checked in
constant time on every notification), opened only when public_url is reachable (https;
loopback for tests), renewed a day before it expires (Graph allows 4230 minutes), opened again
when Graph removed it. Lifecycle notifications (/microsoft/notifications/lifecycle):
`reauthorizationRequired` renews at once, `subscriptionRemoved` opens a new one, `missed` reads
the calendar. Validation requests (`?validationToken=`) are answered with the token as plain
text at once. Polling keeps working without any of this."""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import urllib.parse
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select

from server.config import Config
from server.db import Database
from server.db.models import MicrosoftReadState
from server.db.scope import business_beside, get_of
from server.keys import Keyring, new_token
from server.microsoft.graph import GraphClient, GraphError
from server.runtime import Runtime
from server.sync.errors import SyncError

log = logging.getLogger(__name__)
NOTIFY_PATH = "/microsoft/notifications"
LIFECYCLE_PATH = "/microsoft/notifications/lifecycle"
LIFE = dt.timedelta(minutes=4200)  # a little under Graph's 4230 minutes for calendar events
RENEW_BEFORE = dt.timedelta(days=1)
RETRY_AFTER = dt.timedelta(hours=1)  # after a subscription Graph refused
MAX_NOTIFICATIONS = 100  # per request: more is not Graph


def possible(config: Config) -> bool:
    """Whether Graph can reach public_url: https, or loopback (tests)."""
    parts = urllib.parse.urlsplit(config.public_url)
    if parts.scheme == "https":
        return True
    try:
        return ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return False


def _graph_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def renew(db: Database, keyring: Keyring, config: Config, client: GraphClient,
          connection_id: int, now: dt.datetime, *, business_id: int) -> int:
    """Open or renew the subscriptions of a connection's read calendars (of business
    `business_id`); how many. Graph is called outside any transaction (its validation request
    comes back to us meanwhile)."""
    if not config.microsoft.notifications or not possible(config):
        return 0
    with db.read() as session:
        due = [(state.id, state.google_calendar, state.channel_id) for state in session.execute(
            select(MicrosoftReadState).where(business_beside(MicrosoftReadState, business_id),
                                             MicrosoftReadState.connection_id == connection_id))
            .scalars() if state.channel_expires_at is None
            or state.channel_expires_at - now <= RENEW_BEFORE]
    done = 0
    for state_id, calendar, current in due:
        expires = now + LIFE
        token: str | None = None
        try:
            if current:
                try:
                    client.call("PATCH", f"/subscriptions/{urllib.parse.quote(current)}",
                                body={"expirationDateTime": _graph_time(expires)}, attempts=1)
                    subscription_id = current
                except GraphError as exc:
                    if exc.status != 404:
                        raise
                    current = None  # removed by Graph: a new one below
            if not current:
                token = new_token(24)
                _, answer, _ = client.call("POST", "/subscriptions", attempts=1, body={
                    "changeType": "created,updated,deleted",
                    "notificationUrl": config.public_link(NOTIFY_PATH),
                    "lifecycleNotificationUrl": config.public_link(LIFECYCLE_PATH),
                    "resource": f"me/calendars/{urllib.parse.quote(calendar, safe='')}/events",
                    "expirationDateTime": _graph_time(expires), "clientState": token})
                subscription_id = str((answer or {}).get("id", ""))
        except SyncError as exc:
            log.info("Outlook subscription not opened (%s); polling continues, trying again "
                     "in an hour", exc.message)
            with db.write() as session:
                state = get_of(session, MicrosoftReadState, business_id, state_id)
                if state is not None:
                    state.channel_id = None
                    state.channel_expires_at = now + RENEW_BEFORE + RETRY_AFTER
            continue
        with db.write() as session:
            state = get_of(session, MicrosoftReadState, business_id, state_id)
            if state is None:
                continue
            state.channel_id, state.channel_expires_at = subscription_id, expires
            if token is not None:
                state.channel_token_hash = keyring.hash_token(token)
            done += 1
    return done


def _matching(keyring: Keyring, session: Any, note: Any) -> MicrosoftReadState | None:
    """The read state a notification is for, if its clientState proves it ours."""
    if not isinstance(note, dict):
        return None
    subscription = note.get("subscriptionId")
    given = note.get("clientState")
    if not isinstance(subscription, str) or not isinstance(given, str) or not subscription:
        return None
    state = session.execute(select(MicrosoftReadState).where(
        MicrosoftReadState.channel_id == subscription)).scalar_one_or_none()
    expected = state.channel_token_hash if state is not None else None
    if state is None or not expected or not hmac.compare_digest(keyring.hash_token(given),
                                                                expected):
        return None
    return state


def create_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("microsoft_notifications", __name__)

    def _notes() -> list[Any] | None:
        payload = request.get_json(silent=True)
        notes = payload.get("value") if isinstance(payload, dict) else None
        return notes[:MAX_NOTIFICATIONS] if isinstance(notes, list) else None

    def _validation() -> Response | None:
        token = request.args.get("validationToken")
        if token is None:
            return None
        # Echoed as plain text, at once: Graph gives up after 10 s.
        return Response(token[:1024], status=200, mimetype="text/plain")

    @bp.post(NOTIFY_PATH)
    def notification() -> Response:
        validation = _validation()
        if validation is not None:
            return validation
        notes = _notes()
        if notes is None:
            return Response("a JSON body with 'value' expected\n", status=400,
                            mimetype="text/plain")
        with runtime.db.write() as session:
            for note in notes:
                state = _matching(runtime.keyring, session, note)
                if state is not None:
                    state.pull_requested = True
        return Response(status=202)  # unknown or forged ones get the same answer

    @bp.post(LIFECYCLE_PATH)
    def lifecycle() -> Response:
        validation = _validation()
        if validation is not None:
            return validation
        notes = _notes()
        if notes is None:
            return Response("a JSON body with 'value' expected\n", status=400,
                            mimetype="text/plain")
        now = runtime.clock.now()
        with runtime.db.write() as session:
            for note in notes:
                state = _matching(runtime.keyring, session, note)
                if state is None:
                    continue
                event = note.get("lifecycleEvent")
                state.pull_requested = True  # every lifecycle event: read what may be missed
                if event == "reauthorizationRequired":
                    state.channel_expires_at = now  # renewed on the next pass
                elif event == "subscriptionRemoved":
                    state.channel_id = state.channel_expires_at = None
        return Response(status=202)

    return bp
