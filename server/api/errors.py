"""Every error the HTTP layer returns, in one JSON shape, mapped from our exceptions in one place.
No traceback ever reaches a client: unexpected errors are logged with an incident id and answered
with that id only."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from server import errors
from server.web.incidents import incident_message, log_incident, status_of

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 410: "gone",
              413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid",
              429: "too_many_requests", 500: "internal", 503: "unavailable"}


def error_response(status: int, code: str, message: str,
                   details: dict[str, Any] | None = None) -> Response:
    response = jsonify({"error": {"status": status, "code": code, "message": message,
                                  "details": details or {}}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="bookingcal"'
    if status == 503:
        response.headers["Retry-After"] = "2"
    return response


def from_domain(exc: errors.BookingCalError) -> Response:
    return error_response(status_of(exc), exc.code, exc.message, exc.details)


def from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    messages = {
        404: "no such endpoint; see /api/v1/openapi.json",
        405: "this method is not allowed here",
        413: "the request body is too large",
    }
    message = messages.get(status) or (exc.description or exc.name)
    return error_response(status, HTTP_CODES.get(status, "error"), message)


def from_validation(exc: ValidationError) -> Response:
    """Pydantic's findings, without echoing the submitted values back."""
    problems = [{"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
                for item in exc.errors(include_url=False, include_input=False)]
    summary = "; ".join(f"{p['field'] or 'body'}: {p['message']}" for p in problems[:5])
    return error_response(422, "invalid", f"the request is invalid: {summary}",
                          {"errors": problems})


def from_unexpected(exc: Exception) -> Response:
    incident = log_incident(exc)
    return error_response(500, "internal", incident_message(incident), {"incident": incident})
