"""The fake's own request/response values (independent of the HTTP server that carries them)."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from .google_errors import ApiError, OAuthError

JSON = "application/json; charset=UTF-8"


class DropConnection(Exception):
    """Raised by a handler to close the connection without writing any response."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # raw (still percent-encoded) path, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    batch: int | None = None  # index of the batch this request was a part of

    @staticmethod
    def parse_target(target: str) -> tuple[str, dict[str, list[str]]]:
        parts = urllib.parse.urlsplit(target)
        return parts.path, urllib.parse.parse_qs(parts.query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "parseError", "Parse Error") from None

    def form(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        data = json.dumps(payload, indent=1).encode("utf-8")
        return Response(status, data, {"Content-Type": JSON, **(headers or {})})

    @staticmethod
    def api_error(error: ApiError) -> Response:
        return Response.json(error.code, error.body(), error.headers)

    @staticmethod
    def oauth_error(error: OAuthError) -> Response:
        return Response.json(error.code, error.body(), {"Cache-Control": "no-store", "Pragma": "no-cache"})

    @staticmethod
    def html(status: int, text: str) -> Response:
        page = f"<!DOCTYPE html><html><body><p>{text}</p></body></html>".encode()
        return Response(status, page, {"Content-Type": "text/html; charset=utf-8"})

    @staticmethod
    def redirect(location: str) -> Response:
        return Response(302, b"", {"Location": location})


REASONS = {
    200: "OK", 204: "No Content", 302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 410: "Gone",
    412: "Precondition Failed", 413: "Request Entity Too Large", 429: "Too Many Requests",
    500: "Internal Server Error", 503: "Service Unavailable",
}
