"""Our copy of an item in a CalDAV calendar: a resource we name ourselves,
`bookingcal-<kind>-<id>-<key>.ics`, its UID the same stem. The key is a keyed hash of the item
and of the account in the business (not of the connection's row): deterministic, so a retried
create finds its own resource instead of duplicating, and the same after the account was
disconnected keeping its copies and connected again, which then finds and adopts them. Copies
named by the former scheme (`former_copy_name`, keyed by the connection's row) are still
recognised: those of the connection's own row (a restore), and those of the rows the same
account had before, which a disconnection remembers under the account's `owner_hash`
(server/caldav/former_rows.py), so an account that kept such copies at a disconnection adopts
them when connected again under a new row. Either way an adopted copy keeps its name: it is
written over in place (or deleted, its item gone), never replaced by one under the current
name. A server
that will not take a deleted UID again (Nextcloud) gets the copy under the next generation's
name, `...-<key>-g<n>.ics` (a fresh UID, the same for that booking and generation). Built
from the redacted view only (the Google copies' view, server/redaction.py) and marked with
X-BOOKINGCAL-ITEM naming the item, so a read never mirrors it. Any ATTENDEE or ORGANIZER gets
SCHEDULE-AGENT=CLIENT: the server must send no invitation (RFC 6638; Fastmail's
duplicate-invitation trap)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import icalendar

from server.publishing.ical import item_document, render_event_with_icalendar
from server.keys import Keyring
from server.redaction import EventView

MARK = "X-BOOKINGCAL-ITEM"
PREFIX = "bookingcal-"
SUFFIX = ".ics"
REMINDER_MINUTES = 15
MAX_GENERATION = 999  # a copy re-created under a fresh UID at most this often


def key_secret(keyring: Keyring) -> bytes:
    """The per-installation key of our resource names, derived from the token-hashing key."""
    return hmac.new(keyring.hash_key, b"caldav-copy-ids", hashlib.sha256).digest()


def owner_key(business_id: int, username: str) -> str:
    """Whose copies: an account (its user name) of a business, whichever connection row."""
    return f"account:{business_id}:{username.strip().lower()}"


def owner_hash(secret: bytes, owner: str) -> str:
    """The account (`owner`: owner_key) as stored beside its forgotten connections' rows: a
    keyed hash, so the table never holds the user name."""
    return hmac.new(secret, f"owner-of-rows:{owner}".encode(), hashlib.sha256).hexdigest()


def copy_name(secret: bytes, owner: str, kind: str, item_id: int) -> str:
    """The deterministic resource name of our copy of an item (`owner`: owner_key)."""
    digest = hmac.new(secret, f"{owner}:{kind}:{item_id}".encode(),
                      hashlib.sha256).hexdigest()[:24]
    return f"{PREFIX}{kind}-{item_id}-{digest}{SUFFIX}"


def former_copy_name(secret: bytes, connection_id: int, kind: str, item_id: int) -> str:
    """The name our copy of an item had before names were keyed by the account (until
    December 2026: keyed by the connection's row). Copies written so are still recognised as
    the account's when the database lost their record (a restore: `connection_id` the
    connection's own row) or the account was disconnected keeping them and connected again
    (`connection_id` a row it had before, server/caldav/former_rows.py), and adopted where
    they are, never duplicated under the current name."""
    digest = hmac.new(secret, f"{connection_id}:{kind}:{item_id}".encode(),
                      hashlib.sha256).hexdigest()[:24]
    return f"{PREFIX}{kind}-{item_id}-{digest}{SUFFIX}"


def _generation(part: str) -> int | None:
    if len(part) < 2 or len(part) > 5 or part[0] != "g" or not part[1:].isdigit():
        return None
    return int(part[1:])


def generation_of(name: str) -> int:
    """0 for a copy's first name, n for its `-g<n>` name."""
    parts = name.removesuffix(SUFFIX).split("-")
    found = _generation(parts[-1]) if len(parts) == 5 else None
    return found or 0


def base_name(name: str) -> str:
    """A copy's first name, whatever its generation (adoption checks it against our key)."""
    if generation_of(name) == 0:
        return name
    return name.removesuffix(SUFFIX).rpartition("-")[0] + SUFFIX


def next_name(name: str) -> str:
    """The name (and UID) of the copy's next generation, for a server that will not take
    the current UID again: stable per item and generation."""
    generation = generation_of(name) + 1
    if generation > MAX_GENERATION:
        raise ValueError("too many generations of one copy")
    return f"{base_name(name).removesuffix(SUFFIX)}-g{generation}{SUFFIX}"


def tag_of(value: Any) -> str | None:
    """The item reference ("booking:7") of our mark's value ("booking:7/v2"), else None."""
    if value is None:
        return None
    ref = str(value).partition("/")[0]
    kind, _, number = ref.partition(":")
    if kind not in ("booking", "blocked") or not number.isdigit() or len(number) > 18:
        return None
    return ref


def tag_of_name(name: str) -> str | None:
    """The item reference of a resource named like our copies ("booking:7"), else None. Such
    a resource is not fetched to be read: its ETag tells whether someone changed it, and its
    name, checked against our keyed hash, whether it is this connection's."""
    if not name.startswith(PREFIX) or not name.endswith(SUFFIX):
        return None
    parts = name[len(PREFIX):-len(SUFFIX)].split("-")
    if len(parts) == 4 and _generation(parts[3]) is not None:
        parts = parts[:3]
    if len(parts) != 3:
        return None
    return tag_of(f"{parts[0]}:{parts[1]}")


def key_of_uid(uid: str | None) -> str | None:
    """The first name of our copy whose UID is `uid` (a copy a client stored under another
    resource name keeps it), or None when the UID is not one of ours."""
    if uid is None:
        return None
    name = uid.strip() + SUFFIX
    return base_name(name) if tag_of_name(name) is not None else None


def with_uid(text: str, name: str) -> str:
    """Our copy's resource `text` with the UID of the resource `name`."""
    calendar = icalendar.Calendar.from_ical(text)
    for event in calendar.walk("VEVENT"):
        event["UID"] = icalendar.vText(name.removesuffix(SUFFIX))
    return calendar.to_ical().decode("utf-8")


def cancelled_text(text: str) -> str:
    """Our copy's resource `text` marked cancelled and free, without reminders (for a server
    that will not delete it); ValueError when it is not iCalendar with an event."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError("not an iCalendar resource") from exc
    found = False
    for event in calendar.walk("VEVENT"):
        found = True
        event["STATUS"] = icalendar.vText("CANCELLED")
        event["TRANSP"] = icalendar.vText("TRANSPARENT")
        event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"]
        sequence = event.get("SEQUENCE")
        event["SEQUENCE"] = int(sequence) + 1 if sequence is not None else 1
    if not found:
        raise ValueError("no event in the resource")
    return calendar.to_ical().decode("utf-8")


def _no_invitations(component: Any) -> None:
    for name in ("ATTENDEE", "ORGANIZER"):
        found = component.get(name)
        for value in found if isinstance(found, list) else [found] if found else []:
            value.params["SCHEDULE-AGENT"] = "CLIENT"


def copy_text(view: EventView, *, remote_id: str, item_ref: str, copy_version: int,
              reminders: bool, stamp: dt.datetime | None = None) -> str:
    """The iCalendar resource of our copy (a VCALENDAR with its VTIMEZONE)."""
    text = render_event_with_icalendar(view, REMINDER_MINUTES if reminders else None)
    event = icalendar.Event.from_ical(text)
    uid = remote_id.removesuffix(SUFFIX)
    event["UID"] = icalendar.vText(uid)
    event.add(MARK, f"{item_ref}/v{copy_version}")  # no character TEXT escapes
    if stamp is not None:
        event["DTSTAMP"] = icalendar.vDDDTypes(stamp.astimezone(dt.timezone.utc))
    _no_invitations(event)
    return item_document(event.to_ical().decode("utf-8"), view.tzid)
