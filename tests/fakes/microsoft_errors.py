"""Errors of the fake Microsoft Graph and identity platform, in their wire shapes."""

from __future__ import annotations

from typing import Any


class GraphError(Exception):
    """A Graph error: {"error": {"code", "message"}} with the HTTP status."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message,
                          "innerError": {"request-id": "fake", "date": "fake"}}}


class IdentityError(Exception):
    """An OAuth 2.0 error of the token endpoint (RFC 6749 5.2, with Entra's AADSTS text)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description,
                "error_codes": [70000 if self.error == "invalid_grant" else 900144]}
