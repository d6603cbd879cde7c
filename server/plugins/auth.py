"""Radicale auth plugin. The mount has already authenticated the link (unknown tokens never
reach Radicale); this only confirms that the password Radicale saw is that token."""

from __future__ import annotations

import hmac

from radicale import auth

from server.publishing.dav_context import CURRENT


class Auth(auth.BaseAuth):
    def _login(self, login: str, password: str) -> str:
        request = CURRENT.get()
        if request is None or not hmac.compare_digest(password.encode(),
                                                      request.token.encode()):
            return ""
        return request.principal
