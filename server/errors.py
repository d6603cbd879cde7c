"""Errors that carry data. The domain raises them; the HTTP layer maps them to statuses in one
place (server/api/errors.py) and the CLI prints their message."""

from __future__ import annotations

from typing import Any


class BookingCalError(Exception):
    """Base of every error whose message is meant for the user."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(BookingCalError):
    code = "not_found"


class InvalidError(BookingCalError):
    """The request is well-formed but says something impossible (end before start, bad RRULE)."""

    code = "invalid"


class ConflictError(BookingCalError):
    """The change would overlap something, or collides with the current state."""

    code = "conflict"


class BusyError(BookingCalError):
    """The database could not take the lock in time; retrying later may succeed."""

    code = "busy"


class UnavailableError(BookingCalError):
    """The database cannot be reached."""

    code = "unavailable"


class GoneError(BookingCalError):
    """A sync position older than the journal's horizon, or from another database epoch."""

    code = "gone"


class UnauthorizedError(BookingCalError):
    code = "unauthorized"


class ForbiddenError(BookingCalError):
    code = "forbidden"
