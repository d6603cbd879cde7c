"""OAuth 2.0 authorization server of the fake: consent redirect, token endpoint, revocation.

Behaviour kept from Google: authorization codes are single-use and live 10 minutes; PKCE
(S256 or plain) is checked when the consent request carried a challenge; the ``redirect_uri``
of the token request must equal the consent request's; a refresh token is issued only for
``access_type=offline`` and only on the first consent of a user to a client, or again with
``prompt=consent``; at most 100 refresh tokens live per user and client (the oldest is revoked);
revoking an access token revokes its refresh token too; a refresh never returns a new refresh
token.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import secrets
import threading
import urllib.parse
from collections import deque
from dataclasses import dataclass, field

from .google_errors import OAuthError, insufficient_scopes, invalid_credentials, login_required
from .google_time import FakeClock
from .google_wire import Response

CALENDAR = "https://www.googleapis.com/auth/calendar"
CALENDAR_READONLY = "https://www.googleapis.com/auth/calendar.readonly"
EVENTS = "https://www.googleapis.com/auth/calendar.events"
EVENTS_READONLY = "https://www.googleapis.com/auth/calendar.events.readonly"
EVENTS_OWNED = "https://www.googleapis.com/auth/calendar.events.owned"
EVENTS_OWNED_READONLY = "https://www.googleapis.com/auth/calendar.events.owned.readonly"
CALENDARLIST = "https://www.googleapis.com/auth/calendar.calendarlist"
CALENDARLIST_READONLY = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
CALENDARS = "https://www.googleapis.com/auth/calendar.calendars"
CALENDARS_READONLY = "https://www.googleapis.com/auth/calendar.calendars.readonly"
APP_CREATED = "https://www.googleapis.com/auth/calendar.app.created"
KNOWN_SCOPES = frozenset({
    CALENDAR, CALENDAR_READONLY, EVENTS, EVENTS_READONLY, EVENTS_OWNED, EVENTS_OWNED_READONLY, CALENDARLIST,
    CALENDARLIST_READONLY, CALENDARS, CALENDARS_READONLY, APP_CREATED,
    "openid", "email", "profile",
    "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile",
})
# Which scopes let a token call which kind of Calendar method.
READ_EVENTS = frozenset({CALENDAR, CALENDAR_READONLY, EVENTS, EVENTS_READONLY, EVENTS_OWNED, EVENTS_OWNED_READONLY})
WRITE_EVENTS = frozenset({CALENDAR, EVENTS, EVENTS_OWNED})
READ_CALENDARS = frozenset({CALENDAR, CALENDAR_READONLY, CALENDARLIST, CALENDARLIST_READONLY, CALENDARS,
                            CALENDARS_READONLY})
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()  # empty: any loopback URI (an "installed" client)


@dataclass
class Consent:
    """How the (simulated) user answers the next consent screen."""

    deny: bool = False
    user: str | None = None
    granted_scopes: tuple[str, ...] | None = None  # granular consent: a subset of the request


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    user: str
    scopes: tuple[str, ...]
    challenge: str | None
    method: str | None
    expires: dt.datetime
    refresh: bool


@dataclass
class RefreshGrant:
    token: str
    client_id: str
    user: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class AccessGrant:
    token: str
    client_id: str
    user: str
    scopes: tuple[str, ...]
    expires: dt.datetime
    refresh: str | None
    revoked: bool = False


@dataclass
class _Pair:
    refresh_tokens: deque[str] = field(default_factory=deque)
    offline_granted: bool = False
    consented: bool = False


class OAuthServer:
    def __init__(self, clock: FakeClock, *, default_user: str, access_ttl: int = 3599,
                 refresh_limit: int = 100) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.default_user = default_user
        self.access_ttl = access_ttl
        self.refresh_limit = refresh_limit
        self.users: set[str] = {default_user}
        self._clients: dict[str, OAuthClient] = {}
        self._consents: deque[Consent] = deque()
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._access: dict[str, AccessGrant] = {}
        self._pairs: dict[tuple[str, str], _Pair] = {}

    # ------------------------------------------------------------- test API

    def register_client(self, client: OAuthClient) -> None:
        with self.lock:
            self._clients[client.client_id] = client

    def queue_consent(self, consent: Consent) -> None:
        with self.lock:
            self._consents.append(consent)

    def issue(self, user: str, client_id: str, scopes: tuple[str, ...], *, offline: bool) -> dict[str, object]:
        """Tokens as if the consent flow had run (for tests that do not exercise it)."""
        with self.lock:
            return self._grant(client_id, user, scopes, refresh=offline)

    def expire_access_tokens(self) -> None:
        with self.lock:
            past = self.clock.now() - dt.timedelta(seconds=1)
            for grant in self._access.values():
                grant.expires = min(grant.expires, past)

    def revoke_refresh_token(self, token: str) -> None:
        with self.lock:
            self._revoke_refresh(self._refresh[token])

    def revoke_all(self, user: str | None = None) -> None:
        """Revoke every grant (of ``user``), as "Remove access" in the Google account does."""
        with self.lock:
            for grant in list(self._refresh.values()):
                if user is None or grant.user == user:
                    self._revoke_refresh(grant)
            for access in self._access.values():
                if user is None or access.user == user:
                    access.revoked = True

    def refresh_tokens(self, user: str | None = None, *, live: bool = True) -> list[str]:
        with self.lock:
            return [g.token for g in self._refresh.values()
                    if (user is None or g.user == user) and (not live or not g.revoked)]

    # ----------------------------------------------------------- API access

    def check_access(self, authorization: str | None, query_token: str | None) -> AccessGrant:
        with self.lock:
            if authorization is None and query_token is None:
                raise login_required()
            if authorization is not None:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise invalid_credentials()
                token = token.strip()
            else:
                token = query_token or ""
            grant = self._access.get(token)
            if grant is None or grant.revoked or grant.expires <= self.clock.now():
                raise invalid_credentials()
            return grant

    @staticmethod
    def require(grant: AccessGrant, allowed: frozenset[str]) -> None:
        if not allowed.intersection(grant.scopes):
            raise insufficient_scopes()

    # ------------------------------------------------------------- consent

    def authorize(self, query: dict[str, list[str]]) -> Response:
        q = {k: v[0] for k, v in query.items() if v}
        with self.lock:
            client = self._clients.get(q.get("client_id", ""))
            if client is None:
                return Response.html(401, "Error 401: invalid_client. The OAuth client was not found.")
            redirect_uri = q.get("redirect_uri")
            if not redirect_uri:
                return Response.html(400, "Error 400: invalid_request. Missing required parameter: redirect_uri")
            if not self._redirect_allowed(client, redirect_uri):
                return Response.html(400, "Error 400: redirect_uri_mismatch")
            state = q.get("state")

            def back(**values: str) -> Response:
                if state is not None:
                    values["state"] = state
                glue = "&" if "?" in redirect_uri else "?"
                return Response.redirect(redirect_uri + glue + urllib.parse.urlencode(values))

            if q.get("response_type") != "code":
                return back(error="unsupported_response_type")
            scopes = tuple(q.get("scope", "").split())
            if not scopes:
                return Response.html(400, "Error 400: invalid_request. Missing required parameter: scope")
            unknown = [s for s in scopes if s not in KNOWN_SCOPES]
            if unknown:
                return Response.html(400, f"Error 400: invalid_scope. Some requested scopes were invalid: {unknown}")
            problem = self._check_pkce_request(q) or self._check_options(q)
            if problem:
                return Response.html(400, f"Error 400: invalid_request. {problem}")
            consent = self._consents.popleft() if self._consents else Consent()
            hint = q.get("login_hint")
            user = consent.user or (hint if hint in self.users else None) or self.default_user
            pair = self._pairs.setdefault((user, client.client_id), _Pair())
            prompts = set(q.get("prompt", "").split())
            if "none" in prompts and not pair.consented:
                return back(error="consent_required")
            if consent.deny:
                return back(error="access_denied")
            granted = tuple(s for s in scopes if consent.granted_scopes is None or s in consent.granted_scopes)
            pair.consented = True
            offline = q.get("access_type") == "offline"
            refresh = offline and (not pair.offline_granted or "consent" in prompts)
            code = "4/0A" + secrets.token_urlsafe(40)
            self._codes[code] = _Code(client.client_id, redirect_uri, user, granted, q.get("code_challenge"),
                                      q.get("code_challenge_method", "plain" if "code_challenge" in q else None),
                                      self.clock.now() + dt.timedelta(minutes=10), refresh)
            return back(code=code, scope=" ".join(granted), authuser="0")

    @staticmethod
    def _redirect_allowed(client: OAuthClient, redirect_uri: str) -> bool:
        if client.redirect_uris:
            return redirect_uri in client.redirect_uris
        parts = urllib.parse.urlsplit(redirect_uri)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in _LOOPBACK and not parts.fragment

    @staticmethod
    def _check_pkce_request(q: dict[str, str]) -> str | None:
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
        if challenge is None:
            return "code_challenge_method without code_challenge" if method is not None else None
        if method not in (None, "S256", "plain"):
            return f"Invalid code_challenge_method: {method}"
        if not _VERIFIER.match(challenge):
            return "Invalid code_challenge"
        return None

    @staticmethod
    def _check_options(q: dict[str, str]) -> str | None:
        if q.get("access_type", "online") not in ("online", "offline"):
            return f"Invalid access_type: {q['access_type']}"
        prompts = set(q.get("prompt", "").split())
        if prompts - {"none", "consent", "select_account"} or ("none" in prompts and len(prompts) > 1):
            return f"Invalid prompt: {q.get('prompt')}"
        return None

    # --------------------------------------------------------------- tokens

    def token(self, form: dict[str, list[str]], basic: tuple[str, str] | None) -> Response:
        try:
            with self.lock:
                return Response.json(200, self._token(form, basic), {"Cache-Control": "no-store"})
        except OAuthError as error:
            return Response.oauth_error(error)

    def _client(self, f: dict[str, str], basic: tuple[str, str] | None) -> OAuthClient:
        client_id, secret = basic if basic is not None else (f.get("client_id", ""), f.get("client_secret"))
        client = self._clients.get(client_id)
        if client is None:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if secret != client.client_secret:
            raise OAuthError(401, "invalid_client", "Unauthorized")
        return client

    def _token(self, form: dict[str, list[str]], basic: tuple[str, str] | None) -> dict[str, object]:
        f = {k: v[0] for k, v in form.items() if v}
        grant_type = f.get("grant_type")
        if grant_type is None:
            raise OAuthError(400, "invalid_request", "Missing required parameter: grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        client = self._client(f, basic)
        if grant_type == "refresh_token":
            return self._refresh_grant(client, f)
        code_value = f.get("code")
        if not code_value:
            raise OAuthError(400, "invalid_request", "Missing required parameter: code")
        code = self._codes.pop(code_value, None)  # single use
        if code is None or code.client_id != client.client_id or code.expires <= self.clock.now():
            raise OAuthError(400, "invalid_grant", "Malformed auth code.")
        if "redirect_uri" not in f:
            raise OAuthError(400, "invalid_request", "Missing parameter: redirect_uri")
        if f["redirect_uri"] != code.redirect_uri:
            raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
        if code.challenge is not None:
            verifier = f.get("code_verifier")
            if verifier is None:
                raise OAuthError(400, "invalid_grant", "Missing code verifier.")
            if not _VERIFIER.match(verifier) or _challenge(verifier, code.method or "plain") != code.challenge:
                raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
        return self._grant(client.client_id, code.user, code.scopes, refresh=code.refresh)

    def _refresh_grant(self, client: OAuthClient, f: dict[str, str]) -> dict[str, object]:
        token = f.get("refresh_token")
        if not token:
            raise OAuthError(400, "invalid_request", "Missing required parameter: refresh_token")
        grant = self._refresh.get(token)
        if grant is None or grant.revoked:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        if grant.client_id != client.client_id:
            raise OAuthError(401, "unauthorized_client", "Unauthorized")
        scopes = grant.scopes
        if f.get("scope"):
            wanted = tuple(f["scope"].split())
            if not set(wanted) <= set(grant.scopes):
                raise OAuthError(400, "invalid_scope", "Some requested scopes were invalid.")
            scopes = wanted
        access = self._new_access(client.client_id, grant.user, scopes, token)
        return {"access_token": access.token, "expires_in": self.access_ttl, "scope": " ".join(scopes),
                "token_type": "Bearer"}

    def _grant(self, client_id: str, user: str, scopes: tuple[str, ...], *, refresh: bool) -> dict[str, object]:
        refresh_token = None
        if refresh:
            refresh_token = "1//0" + secrets.token_urlsafe(48)
            self._refresh[refresh_token] = RefreshGrant(refresh_token, client_id, user, scopes)
            pair = self._pairs.setdefault((user, client_id), _Pair())
            pair.offline_granted = pair.consented = True
            pair.refresh_tokens.append(refresh_token)
            while len(pair.refresh_tokens) > self.refresh_limit:
                self._refresh[pair.refresh_tokens.popleft()].revoked = True
        access = self._new_access(client_id, user, scopes, refresh_token)
        body: dict[str, object] = {"access_token": access.token, "expires_in": self.access_ttl}
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        body.update(scope=" ".join(scopes), token_type="Bearer")
        return body

    def _new_access(self, client_id: str, user: str, scopes: tuple[str, ...], refresh: str | None) -> AccessGrant:
        token = "ya29.a0" + secrets.token_urlsafe(60)
        expires = self.clock.now() + dt.timedelta(seconds=self.access_ttl)
        grant = AccessGrant(token, client_id, user, scopes, expires, refresh)
        self._access[token] = grant
        return grant

    # ----------------------------------------------------------- revocation

    def revoke(self, token: str | None) -> Response:
        with self.lock:
            refresh = self._refresh.get(token or "")
            access = self._access.get(token or "")
            if refresh is not None and not refresh.revoked:
                self._revoke_refresh(refresh)
            elif access is not None and not access.revoked and access.expires > self.clock.now():
                access.revoked = True
                if access.refresh is not None:
                    self._revoke_refresh(self._refresh[access.refresh])
            else:
                return Response.json(400, {"error": "invalid_token", "error_description": "Token expired or revoked"})
            return Response.json(200, {})

    def _revoke_refresh(self, grant: RefreshGrant) -> None:
        grant.revoked = True
        for access in self._access.values():
            if access.refresh == grant.token:
                access.revoked = True
        pair = self._pairs.get((grant.user, grant.client_id))
        if pair is not None and all(self._refresh[t].revoked for t in pair.refresh_tokens):
            pair.offline_granted = pair.consented = False


def _challenge(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def basic_auth(header: str | None) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from an ``Authorization: Basic`` header."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)

