"""Connecting a business's Google account: OAuth web consent with PKCE and a `state` bound to
the business (stored hashed, used once, short-lived), code exchange, revocation. The refresh
token is stored encrypted only."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from typing import Any
from urllib.parse import urlencode

import requests
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.config import Config
from server.db import key_directory
from server.db.models import GoogleConnection, GoogleOAuthState
from server.domain.businesses import get_business
from server.errors import ConflictError, InvalidError, UnavailableError
from server.google.api import GoogleCalendarApi
from server.keys import Keyring, new_token

log = logging.getLogger(__name__)
CALLBACK_PATH = "/google/oauth/callback"
STATE_LIFETIME = dt.timedelta(minutes=15)


class NotConfiguredError(ConflictError):
    code = "not_configured"


def _require_client(config: Config) -> None:
    if not config.google.configured:
        raise NotConfiguredError("Google Calendar is not configured: set google.client_id and "
                                 "google.client_secret_file in the configuration")


def redirect_uri(config: Config) -> str:
    return config.public_link(CALLBACK_PATH)


def start_consent(session: Session, keyring: Keyring, config: Config, business_id: int,
                  now: dt.datetime) -> str:
    """The consent URL to send the business admin to. Refused while an account is connected:
    changing account means disconnecting first."""
    _require_client(config)
    get_business(session, business_id)
    current = session.execute(select(GoogleConnection.status).where(
        GoogleConnection.business_id == business_id)).scalar_one_or_none()
    if current is not None and current != "needs_reconnect":
        raise ConflictError("a Google account is connected already; disconnect it first to "
                            "connect another")
    expired = session.execute(delete(GoogleOAuthState).where(GoogleOAuthState.expires_at < now)
                              .returning(GoogleOAuthState.state_hash)).scalars().all()
    key_directory.remove(session, "google_oauth", expired)
    state, verifier = new_token(32), new_token(48)
    digest = keyring.hash_token(state)
    session.add(GoogleOAuthState(state_hash=digest, business_id=business_id,
                                 verifier_encrypted=keyring.encrypt(verifier), created_at=now,
                                 expires_at=now + STATE_LIFETIME))
    key_directory.register(session, "google_oauth", digest, business_id)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                         ).decode().rstrip("=")
    query = {"client_id": config.google.client_id, "redirect_uri": redirect_uri(config),
             "response_type": "code", "scope": " ".join(config.google.scopes),
             "state": state, "access_type": "offline", "prompt": "consent",
             "include_granted_scopes": "true", "code_challenge": challenge,
             "code_challenge_method": "S256"}
    return config.google.auth_url + "?" + urlencode(query)


def take_state(session: Session, keyring: Keyring, state: str,
               now: dt.datetime) -> tuple[int, str]:
    """(business id, PKCE verifier) of a pending consent; the state is used up."""
    digest = keyring.hash_token(state) if state else None
    owner = key_directory.business_of(session, "google_oauth", digest) if digest else None
    row = None if owner is None else session.execute(select(GoogleOAuthState).where(
        GoogleOAuthState.business_id == owner,
        GoogleOAuthState.state_hash == digest)).scalar_one_or_none()
    if row is None or row.expires_at < now:
        raise InvalidError("the sign-in with Google has expired or was already used; start "
                           "again from 'Connect Google Calendar'")
    session.delete(row)
    key_directory.remove(session, "google_oauth", [row.state_hash])
    return row.business_id, keyring.decrypt(row.verifier_encrypted)


def exchange_code(config: Config, code: str, verifier: str) -> dict[str, Any]:
    """Trade the authorization code for tokens at Google's token endpoint."""
    _require_client(config)
    try:
        response = requests.post(config.google.token_url, timeout=20, data={
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "client_id": config.google.client_id, "client_secret": config.google.client_secret,
            "redirect_uri": redirect_uri(config)})
    except requests.RequestException as exc:
        raise UnavailableError(f"Google could not be reached ({type(exc).__name__}); "
                               "try connecting again") from None
    if response.status_code != 200:
        reason = _error_of(response)
        log.warning("Google refused the authorization code: %s", reason)
        raise InvalidError(f"Google refused the sign-in ({reason}); start again")
    tokens: dict[str, Any] = response.json()
    if not tokens.get("refresh_token"):
        raise InvalidError("Google gave no offline access; remove bookingcal's access at "
                           "myaccount.google.com/permissions and connect again")
    return tokens


def _error_of(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", response.status_code))
    except ValueError:
        return str(response.status_code)


def learn_account_email(config: Config, tokens: dict[str, Any]) -> str:
    """The connected account's e-mail address, as an app with only the calendar scope can learn
    it: the id of the account's primary calendar (calendarList.get('primary')). "" when Google
    does not tell (an error, no answer, an id that is no address): connecting goes on without
    it, and the pages say "connected Google account" instead."""
    try:
        api = GoogleCalendarApi(config.google, str(tokens["refresh_token"]), timeout=10.0,
                                max_attempts=1)
        found = api.primary_email()
    except Exception as exc:  # any failure here only costs the address, never the connection
        log.warning("the connected Google account's address could not be learned (%s)",
                    type(exc).__name__)
        return ""
    return found if "@" in found and len(found) <= 320 else ""


def connect(session: Session, keyring: Keyring, business_id: int, tokens: dict[str, Any],
            now: dt.datetime, account_email: str = "") -> GoogleConnection:
    """Store a new connection, or renew the token of one that needs reconnecting (its
    settings, copies and positions stay: what was made meanwhile is sent now).
    `account_email` is learn_account_email's answer; an empty one keeps what is known."""
    existing = session.execute(select(GoogleConnection).where(
        GoogleConnection.business_id == business_id)).scalar_one_or_none()
    if existing is not None:
        if existing.status != "needs_reconnect":
            raise ConflictError("a Google account is connected already; disconnect it first")
        existing.refresh_token_encrypted = keyring.encrypt(tokens["refresh_token"])
        existing.status, existing.last_error, existing.updated_at = "connected", None, now
        if account_email:
            existing.account_email = account_email
        return existing
    connection = GoogleConnection(
        business_id=business_id, refresh_token_encrypted=keyring.encrypt(tokens["refresh_token"]),
        scopes=str(tokens.get("scope", "")), account_email=account_email,
        status="connected", direction="both",
        hide_client_details=False, block_online_booking=False, reminders=False,
        copy_version=1, created_at=now, updated_at=now)
    session.add(connection)
    session.flush()
    return connection


def revoke(config: Config, token: str) -> bool:
    """Revoke a token at Google; False if Google could not be reached or refused."""
    try:
        response = requests.post(config.google.revoke_url, data={"token": token}, timeout=20)
    except requests.RequestException:
        return False
    return response.status_code == 200
