"""The HTTP status of our domain errors and the logging of unexpected ones under an incident
id: shared by every HTTP surface (the JSON API, the admin pages, feeds, the CalDAV mount and the
outermost shield), so none of them needs another's module."""

from __future__ import annotations

import json
import logging
import uuid

from server import errors

log = logging.getLogger(__name__)

STATUS = {
    errors.NotFoundError: 404,
    errors.InvalidError: 422,
    errors.ConflictError: 409,
    errors.GoneError: 410,
    errors.BusyError: 503,
    errors.UnavailableError: 503,
    errors.UnauthorizedError: 401,
    errors.ForbiddenError: 403,
}


def status_of(exc: errors.BookingCalError) -> int:
    """The HTTP status of a domain error."""
    return next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)


def log_incident(exc: Exception) -> str:
    """Log an unexpected error under a new incident id and return the id (the JSON error and
    the admin pages' error page show it). The traceback only at DEBUG: it may quote values."""
    incident = uuid.uuid4().hex[:12]
    log.error("unexpected error, incident %s: %s", incident, type(exc).__name__,
              exc_info=log.isEnabledFor(logging.DEBUG))
    return incident


def incident_message(incident: str) -> str:
    return f"internal error; the administrator can find it in the log as incident {incident}"


def incident_body(incident: str) -> bytes:
    """The JSON error of an incident, for WSGI layers outside Flask (the CalDAV mount, the
    outermost shield)."""
    return json.dumps({"error": {"status": 500, "code": "internal",
                                 "message": incident_message(incident),
                                 "details": {"incident": incident}}}).encode("utf-8")
