"""Our copy of an item as a Graph event, built from the redacted view only, and how our copies
are recognised: a deterministic transactionId (`bookingcal-<kind>-<id>-<key>`, which makes a
retried create idempotent and which Graph returns with the event) and a single-value extended
property naming the item (filtered on to find our copies)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from server.domain.timeutil import zone
from server.errors import InvalidError
from server.publishing.ical import clean_text
from server.keys import Keyring
from server.microsoft import recurrence
from server.redaction import EventView

# A named single-value extended property in our own property set (a GUID of ours).
PROPERTY = "String {4c1f5a36-8f8e-4b8e-9a57-1b0d5c7e2a11} Name bookingcal"
PREFIX = "bookingcal-"
UTC = dt.timezone.utc
REPEATING = "repeating"  # a body key: why this repeating item cannot be sent (write_batch)


def key_secret(keyring: Keyring) -> bytes:
    """The per-installation key of our transactionIds, derived from the token-hashing key."""
    return hmac.new(keyring.hash_key, b"microsoft-copy-ids", hashlib.sha256).digest()


def copy_key(secret: bytes, connection_id: int, kind: str, item_id: int) -> str:
    """The deterministic transactionId of our copy of an item."""
    digest = hmac.new(secret, f"{connection_id}:{kind}:{item_id}".encode(),
                      hashlib.sha256).hexdigest()[:24]
    return f"{PREFIX}{kind}-{item_id}-{digest}"


def tag_of(transaction_id: Any) -> str | None:
    """The item reference ("booking:7") of a transactionId of ours, else None."""
    if not isinstance(transaction_id, str) or not transaction_id.startswith(PREFIX):
        return None
    parts = transaction_id[len(PREFIX):].split("-")
    if len(parts) != 3 or parts[0] not in ("booking", "blocked") or not parts[1].isdigit():
        return None
    return f"{parts[0]}:{parts[1]}"


def _when(local: dt.datetime, instant: dt.datetime | None, tzid: str,
          all_day: bool) -> dict[str, str]:
    if all_day:
        moment = dt.datetime.combine(local.date(), dt.time())
        return {"dateTime": moment.isoformat(timespec="seconds"), "timeZone": "UTC"}
    exact = instant if instant is not None else local.replace(tzinfo=zone(tzid), fold=0)
    utc = exact.astimezone(UTC).replace(tzinfo=None)
    return {"dateTime": utc.isoformat(timespec="seconds"), "timeZone": "UTC"}


def event_body(view: EventView, *, item_ref: str, copy_version: int,
               reminders: bool) -> dict[str, Any]:
    """The Graph event of our copy (without transactionId: only a create sends it)."""
    body: dict[str, Any] = {
        "subject": clean_text(view.summary),
        "start": _when(view.start_local, view.start_utc, view.tzid, view.all_day),
        "end": _when(view.end_local, view.end_utc, view.tzid, view.all_day),
        "isAllDay": view.all_day,
        "showAs": "busy",
        "sensitivity": "normal",
        "isReminderOn": reminders,
        "body": {"contentType": "text", "content": clean_text(view.description or "")},
        "location": {"displayName": clean_text(view.location or "")},
        "singleValueExtendedProperties": [
            {"id": PROPERTY, "value": f"{item_ref};v{copy_version}"}],
    }
    if view.rrule:
        reason = recurrence.unsupported(view)
        if reason is None:
            try:
                body.update(recurrence.series_fields(view))
            except InvalidError as exc:
                reason = exc.message
        if reason is not None:
            body[REPEATING] = reason
    elif item_ref.startswith("blocked:"):
        body["recurrence"] = None  # a series that stopped repeating becomes one event
    return body
