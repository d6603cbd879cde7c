"""Who is calling: the host system's key (every business) or a business key (one business).
Keys arrive as `Authorization: Bearer <key>` and are compared by keyed hash."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import g, request

from server.domain.businesses import business_for_key
from server.errors import ForbiddenError, UnauthorizedError
from server.runtime import Runtime


@dataclass(frozen=True)
class Caller:
    business_id: int | None  # None: the host system

    @property
    def is_host(self) -> bool:
        return self.business_id is None

    def require_host(self) -> None:
        if not self.is_host:
            raise ForbiddenError("this needs the host system's key, not a business key")

    def require_business(self, business_id: int) -> None:
        if self.business_id is not None and self.business_id != business_id:
            raise ForbiddenError(f"this key belongs to business {self.business_id}, "
                                 f"not {business_id}")


def authenticate(runtime: Runtime) -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise UnauthorizedError("send an API key as 'Authorization: Bearer <key>'")
    digest = runtime.keyring.hash_token(secret)
    if runtime.host_key_hash and hmac.compare_digest(digest, runtime.host_key_hash):
        return Caller(None)
    with runtime.db.read() as session:
        business_id = business_for_key(session, runtime.keyring, secret)
    if business_id is None:
        raise UnauthorizedError("the API key is unknown or revoked")
    return Caller(business_id)


def caller() -> Caller:
    return g.caller  # set for every /api/v1 request by the app's before_request hook
