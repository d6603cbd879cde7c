"""What a failure of one Google calendar means, in words for the admin (the engine records and
backs off such failures: server/sync/calendar_errors.py)."""

from __future__ import annotations

from server.sync.errors import SyncError


def describe(error: SyncError, google_calendar: str, *, writing: bool) -> str:
    """What went wrong with `google_calendar`, and what to change."""
    if error.status == 404:
        return (f"Google calendar {google_calendar} was not found ({error.message}): it was "
                "deleted or is not shared with the connected account; choose another calendar "
                "in the Google settings or share it with the account")
    if error.status == 403:
        access = "make changes to events" if writing else "see all event details"
        return (f"the connected account may not {'write to' if writing else 'read'} Google "
                f"calendar {google_calendar} ({error.message}): give it \"{access}\" access "
                "in Google Calendar or choose another calendar in the Google settings")
    return f"Google calendar {google_calendar}: {error.message}"
