"""The fake Microsoft identity platform (v2.0 endpoints of one tenant path, e.g. `/common`):
authorize (authorization code with PKCE S256, answered at once as if the user consented),
token (authorization_code with the code verifier, refresh_token; refused refresh tokens ->
invalid_grant), and the OpenID discovery document MSAL reads."""

from __future__ import annotations

import base64
import json
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .microsoft_errors import IdentityError

SCOPES = {"Calendars.ReadWrite", "offline_access", "User.Read", "openid", "profile"}


@dataclass
class Identity:
    client_id: str
    client_secret: str
    user: str
    access_ttl: int = 3599
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    # code -> (PKCE challenge, redirect uri, scopes, nonce)
    codes: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    issuer: str = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    lock: threading.Lock = field(default_factory=threading.Lock)
    token_requests: int = 0
    deny_next: bool = False  # the next consent screen is answered "no" (access_denied)
    # Token -> the user it was issued to (`user` unless said otherwise): the fake serves
    # many mailboxes (a fleet's accounts), each request the one of its token.
    owners: dict[str, str] = field(default_factory=dict)

    def issue_refresh_token(self, user: str | None = None) -> str:
        """A refresh token of `user` (default: the consenting user), as after consent."""
        token = "M.R3_fake." + secrets.token_urlsafe(32)
        with self.lock:
            self.refresh_tokens.add(token)
            self.owners[token] = user or self.user
        return token

    def revoke_all(self) -> None:
        """The user (or an admin) revoked the app: every refresh token is refused."""
        with self.lock:
            self.refresh_tokens.clear()
            self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def authorized(self, header: str | None) -> bool:
        return self.user_of(header) is not None

    def user_of(self, header: str | None) -> str | None:
        """The user whose valid access token the Authorization header carries, else None."""
        if not header or not header.startswith("Bearer "):
            return None
        with self.lock:
            token = header[7:]
            return self.owners.get(token, self.user) if token in self.access_tokens else None

    def authorize(self, query: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
        """(where, fields): the answer after the user consents, posted to `where` with
        response_mode form_post, else a redirect to `where?fields`."""
        one = {k: v[0] for k, v in query.items()}
        if one.get("client_id") != self.client_id:
            raise IdentityError("unauthorized_client", "AADSTS700016: application not found")
        if one.get("response_type") != "code" or "redirect_uri" not in one:
            raise IdentityError("invalid_request", "AADSTS900144: response_type/redirect_uri")
        if one.get("code_challenge_method") != "S256" or not one.get("code_challenge"):
            raise IdentityError("invalid_request", "AADSTS501491: PKCE S256 required")
        asked = set(one.get("scope", "").split())
        if not asked or not asked <= SCOPES:
            raise IdentityError("invalid_scope", "AADSTS70011: unexpected scope")
        with self.lock:
            if self.deny_next:
                self.deny_next = False
                return one["redirect_uri"], {
                    "error": "access_denied", "state": one.get("state", ""),
                    "error_description": "AADSTS65004: User declined to consent to access "
                                         "the app."}
        code = "M.C_fake." + secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = (one["code_challenge"], one["redirect_uri"],
                                " ".join(sorted(asked)), one.get("nonce", ""))
        return one["redirect_uri"], {"code": code, "state": one.get("state", "")}

    def token(self, form: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[0] for k, v in form.items()}
        with self.lock:
            self.token_requests += 1
        if one.get("client_id") != self.client_id or one.get("client_secret") != self.client_secret:
            raise IdentityError("invalid_client", "AADSTS7000215: invalid client secret", 401)
        grant = one.get("grant_type")
        if grant == "authorization_code":
            with self.lock:
                found = self.codes.pop(one.get("code", ""), None)
            if found is None:
                raise IdentityError("invalid_grant", "AADSTS70008: code expired or used")
            challenge, redirect, _, nonce = found
            verifier = one.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if digest.rstrip(b"=").decode() != challenge or one.get("redirect_uri") != redirect:
                raise IdentityError("invalid_grant", "AADSTS501481: code verifier mismatch")
            refresh = self.issue_refresh_token()
            id_token = self._id_token(nonce)
            owner = self.user
        elif grant == "refresh_token":
            refresh = one.get("refresh_token", "")
            with self.lock:
                if refresh not in self.refresh_tokens:
                    raise IdentityError("invalid_grant", "AADSTS70000: the provided grant is "
                                        "invalid or expired")
                owner = self.owners.get(refresh, self.user)
            id_token = None
        else:
            raise IdentityError("unsupported_grant_type", "AADSTS70003")
        access = "EwB_fake." + secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens.add(access)
            self.owners[access] = owner
        answer = {"token_type": "Bearer", "scope": "Calendars.ReadWrite User.Read",
                  "expires_in": self.access_ttl, "access_token": access,
                  "refresh_token": refresh}
        if id_token is not None:
            answer["id_token"] = id_token
        return answer

    def _id_token(self, nonce: str) -> str:
        """An (unsigned, as MSAL does not check the signature of a token it got straight
        from the token endpoint) OpenID id token; times on the real clock, as MSAL checks."""
        now = int(time.time())
        claims = {"aud": self.client_id, "iss": self.issuer, "iat": now, "nbf": now,
                  "exp": now + 3600, "nonce": nonce, "preferred_username": self.user,
                  "oid": "00000000-0000-0000-0000-0000000000aa",
                  "tid": "9188040d-6c67-4c5b-b112-36a304b66dad", "sub": "fake-subject",
                  "name": "Anna"}
        def part(value: dict[str, Any]) -> str:
            raw = json.dumps(value).encode()
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."

