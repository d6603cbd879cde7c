"""Connecting a business's Microsoft account (work or personal): the identity platform's
authorization-code flow with PKCE through MSAL (the authority `common` by default), scopes
Calendars.ReadWrite, User.Read and offline_access (MSAL adds it), a `state` bound to the
business (stored hashed, used once, short-lived) and MSAL's flow kept encrypted until the
callback. The refresh token is stored encrypted only (server/microsoft/connections.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import msal
import requests
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.config import Config
from server.db import key_directory
from server.db.models import MicrosoftConnection, MicrosoftOAuthState
from server.domain.businesses import get_business
from server.errors import ConflictError, InvalidError, UnavailableError
from server.keys import Keyring, new_token
from server.microsoft import connections
from server.microsoft.http import VerifyingSession

log = logging.getLogger(__name__)
CALLBACK_PATH = "/microsoft/oauth/callback"
STATE_LIFETIME = dt.timedelta(minutes=15)
SCOPES = ["Calendars.ReadWrite", "User.Read"]  # MSAL adds offline_access, openid, profile


class NotConfiguredError(ConflictError):
    code = "not_configured"


def redirect_uri(config: Config) -> str:
    return config.public_link(CALLBACK_PATH)


def _app(config: Config) -> msal.ConfidentialClientApplication:
    if not config.microsoft.configured:
        raise NotConfiguredError("Microsoft 365 / Outlook is not configured: set "
                                 "microsoft.client_id and microsoft.client_secret_file in the "
                                 "configuration")
    session = VerifyingSession(config.microsoft)
    try:
        return msal.ConfidentialClientApplication(
            config.microsoft.client_id, client_credential=config.microsoft.client_secret,
            authority=config.microsoft.authority, instance_discovery=False,
            validate_authority=False, http_client=session, timeout=20)
    except (ValueError, requests.RequestException) as exc:
        log.warning("Microsoft sign-in could not start: %s", type(exc).__name__)
        raise UnavailableError("the Microsoft identity platform could not be reached; try "
                               "again in a minute") from exc


def start_consent(session: Session, keyring: Keyring, config: Config, business_id: int,
                  now: dt.datetime) -> str:
    """The consent URL to send the business admin to. Refused while an account is connected."""
    app = _app(config)
    get_business(session, business_id)
    current = session.execute(select(MicrosoftConnection.status).where(
        MicrosoftConnection.business_id == business_id)).scalar_one_or_none()
    if current is not None and current != "needs_reconnect":
        raise ConflictError("a Microsoft account is connected already; disconnect it first "
                            "to connect another")
    expired = session.execute(
        delete(MicrosoftOAuthState).where(MicrosoftOAuthState.expires_at < now)
        .returning(MicrosoftOAuthState.state_hash)).scalars().all()
    key_directory.remove(session, "microsoft_oauth", expired)
    state = new_token(32)
    # form_post: the code comes back in a POST body, never in a URL (logs, history, Referer).
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=redirect_uri(config), state=state,
                                       prompt="select_account", response_mode="form_post")
    digest = keyring.hash_token(state)
    session.add(MicrosoftOAuthState(
        state_hash=digest, business_id=business_id,
        flow_encrypted=keyring.encrypt(json.dumps(flow)), created_at=now,
        expires_at=now + STATE_LIFETIME))
    key_directory.register(session, "microsoft_oauth", digest, business_id)
    return str(flow["auth_uri"])


def take_state(session: Session, keyring: Keyring, state: str,
               now: dt.datetime) -> tuple[int, dict[str, Any]]:
    """(business id, MSAL flow) of a pending consent; the state is used up."""
    digest = keyring.hash_token(state) if state else None
    owner = key_directory.business_of(session, "microsoft_oauth", digest) if digest else None
    row = None if owner is None else session.execute(select(MicrosoftOAuthState).where(
        MicrosoftOAuthState.business_id == owner,
        MicrosoftOAuthState.state_hash == digest)).scalar_one_or_none()
    if row is None or row.expires_at < now:
        raise InvalidError("the sign-in with Microsoft has expired or was already used; start "
                           "again from 'Connect Microsoft 365 / Outlook'")
    session.delete(row)
    key_directory.remove(session, "microsoft_oauth", [row.state_hash])
    return row.business_id, dict(json.loads(keyring.decrypt(row.flow_encrypted)))


def exchange(config: Config, flow: dict[str, Any], answer: dict[str, str]) -> tuple[str, str]:
    """(refresh token, account e-mail) for the callback's answer; a clear error otherwise."""
    app = _app(config)
    try:
        result = app.acquire_token_by_auth_code_flow(flow, answer)
    except ValueError as exc:  # a state mismatch or a tampered answer
        raise InvalidError("the answer from Microsoft did not match the sign-in started here; "
                           "start again") from exc
    except requests.RequestException as exc:
        raise UnavailableError("the Microsoft identity platform could not be reached; try "
                               "again in a minute") from exc
    if "error" in result:
        reason = str(result.get("error"))
        if reason == "access_denied":
            raise InvalidError("access was not granted (a work account may need its "
                               "administrator's consent: see the README)")
        raise InvalidError(f"Microsoft refused the sign-in ({reason})")
    refresh = result.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise InvalidError("Microsoft gave no offline access; allow 'Maintain access to data "
                           "you have given it access to' and try again")
    claims = result.get("id_token_claims") or {}
    return refresh, str(claims.get("preferred_username") or claims.get("email") or "")


def complete(db_session: Session, keyring: Keyring, business_id: int, refresh_token: str,
             email: str, now: dt.datetime) -> MicrosoftConnection:
    """Store the connection (or renew one that needs reconnecting)."""
    return connections.connect(db_session, keyring, business_id, refresh_token, now,
                               account_email=email, scopes=" ".join(SCOPES + ["offline_access"]))
