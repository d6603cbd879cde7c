"""Validation and normalisation of Calendar v3 event resources, as strict as Google where known."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import random
import re
from dataclasses import dataclass
from typing import Any

from .google_errors import ApiError, bad_request, required
from .google_time import Occurrence, Recurrence, When, format_in_zone, format_utc_ms, parse_when

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
INSTANCE_ID = re.compile(r"^(?P<base>.+)_(?P<key>\d{8}(?:T\d{6}Z)?)$")
EVENT_TYPES = ("default", "outOfOffice", "workingLocation", "focusTime", "birthday", "fromGmail")
PRIMARY_ONLY_TYPES = ("outOfOffice", "workingLocation", "focusTime")
RESPONSE_STATUSES = ("needsAction", "declined", "tentative", "accepted")
_STRING_FIELDS = ("summary", "description", "location", "colorId")
_BOOL_FIELDS = (
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "anyoneCanAddSelf",
    "privateCopy",
    "endTimeUnspecified",
)
_OBJECT_FIELDS = (
    "source",
    "outOfOfficeProperties",
    "focusTimeProperties",
    "workingLocationProperties",
    "birthdayProperties",
)
# Server-written fields a client may echo back (ignored on write).
OUTPUT_ONLY = frozenset(
    {"kind", "etag", "id", "htmlLink", "created", "updated", "creator", "organizer", "iCalUID",
     "recurringEventId", "originalStartTime", "hangoutLink", "attendeesOmitted", "locked"}
)
_KEY_ORDER = (
    "kind", "etag", "id", "status", "htmlLink", "created", "updated", "summary", "description",
    "location", "colorId", "creator", "organizer", "start", "end", "endTimeUnspecified", "recurrence",
    "recurringEventId", "originalStartTime", "transparency", "visibility", "iCalUID", "sequence",
    "attendees", "guestsCanInviteOthers", "guestsCanModify", "guestsCanSeeOtherGuests",
    "anyoneCanAddSelf", "privateCopy", "extendedProperties", "reminders", "source", "eventType",
)
_EXT_KEY_MAX, _EXT_VALUE_MAX, _EXT_COUNT_MAX, _EXT_BYTES_MAX = 44, 1024, 300, 32 * 1024
_MAX_OVERRIDES, _MAX_REMINDER_MINUTES = 5, 40320


@dataclass(frozen=True)
class CalendarInfo:
    id: str
    owner: str
    summary: str
    zone: str
    primary: bool


def new_event_id(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))


def check_client_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        raise bad_request("Invalid resource id value.")
    return event_id


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Google's patch semantics: objects merge recursively, arrays replace, ``null`` clears."""
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def writable_view(resource: dict[str, Any]) -> dict[str, Any]:
    """The client-settable part of a stored event (what a patch is merged into)."""
    view = {k: copy.deepcopy(v) for k, v in resource.items() if k not in OUTPUT_ONLY and k != "sequence"}
    for attendee in view.get("attendees", []):
        attendee.pop("self", None)
        attendee.pop("organizer", None)
        attendee.pop("id", None)
    return view


def _string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"Invalid value for: {key}")
    return value


def _enum(body: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = _string(body, key)
    if value is not None and value not in allowed:
        raise bad_request(f"Invalid value for: {key}")
    return value


def _when(body: dict[str, Any], key: str, what: str) -> When:
    if body.get(key) is None:
        raise required(f"Missing {what} time.")
    try:
        return parse_when(body[key], what)
    except ValueError as exc:
        text = str(exc)
        raise (required(text) if text.startswith("Missing") else bad_request(text)) from None


def _attendees(value: Any, calendar: CalendarInfo) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise bad_request("Invalid value for: attendees")
    result = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_request("Invalid value for: attendees")
        email = item.get("email")
        if not email:
            raise required("Missing attendee email.")
        if not isinstance(email, str) or "@" not in email:
            raise bad_request("Invalid attendee email.")
        attendee: dict[str, Any] = {"email": email}
        for key in ("displayName", "comment"):
            if _string(item, key) is not None:
                attendee[key] = item[key]
        for key in ("optional", "resource"):
            if key in item and item[key] is not None:
                if not isinstance(item[key], bool):
                    raise bad_request(f"Invalid value for: attendees.{key}")
                attendee[key] = item[key]
        if item.get("additionalGuests") is not None:
            if not isinstance(item["additionalGuests"], int) or item["additionalGuests"] < 0:
                raise bad_request("Invalid value for: attendees.additionalGuests")
            attendee["additionalGuests"] = item["additionalGuests"]
        attendee["responseStatus"] = _enum(item, "responseStatus", RESPONSE_STATUSES) or "needsAction"
        if email.lower() == calendar.id.lower():
            attendee["organizer"] = True
        if email.lower() in (calendar.owner.lower(), calendar.id.lower()):
            attendee["self"] = True
        result.append(attendee)
    return result


def _extended_properties(value: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict) or set(value) - {"private", "shared"}:
        raise bad_request("Invalid value for: extendedProperties")
    result: dict[str, dict[str, str]] = {}
    for scope, props in value.items():
        if props is None:
            continue
        if not isinstance(props, dict):
            raise bad_request(f"Invalid value for: extendedProperties.{scope}")
        kept: dict[str, str] = {}
        for key, val in props.items():
            if val is None:
                continue
            if not isinstance(val, str):
                raise bad_request(f"Invalid value for: extendedProperties.{scope}")
            if len(key) > _EXT_KEY_MAX:
                continue  # Google drops properties whose key is too long, silently
            kept[key] = val[:_EXT_VALUE_MAX]  # ... and truncates long values, silently
        size = sum(len(k.encode()) + len(v.encode()) for k, v in kept.items())
        if len(kept) > _EXT_COUNT_MAX or size > _EXT_BYTES_MAX:
            raise bad_request(f"Too many or too large extended properties ({scope}).")
        if kept:
            result[scope] = kept
    return result


def _reminders(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"useDefault", "overrides"}:
        raise bad_request("Invalid value for: reminders")
    use_default = value.get("useDefault", False)
    if not isinstance(use_default, bool):
        raise bad_request("Invalid value for: reminders.useDefault")
    overrides = value.get("overrides") or []
    if not isinstance(overrides, list):
        raise bad_request("Invalid value for: reminders.overrides")
    if use_default and overrides:
        raise bad_request(
            "Cannot specify both default reminders and overrides at the same time.",
            "cannotUseDefaultRemindersAndSpecifyOverride",
        )
    if len(overrides) > _MAX_OVERRIDES:
        raise bad_request("Too many reminders.", "tooManyReminders")
    clean = []
    for item in overrides:
        if not isinstance(item, dict):
            raise bad_request("Invalid value for: reminders.overrides")
        if item.get("method") not in ("email", "popup"):
            raise required("Missing reminder method.") if item.get("method") is None else bad_request(
                "Invalid reminder method."
            )
        minutes = item.get("minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            raise required("Missing reminder minutes.")
        if not 0 <= minutes <= _MAX_REMINDER_MINUTES:
            raise bad_request("Invalid reminder minutes value.")
        clean.append({"method": item["method"], "minutes": minutes})
    result: dict[str, Any] = {"useDefault": use_default}
    if clean:
        result["overrides"] = clean
    return result


def normalise(
    body: Any,
    *,
    calendar: CalendarInfo,
    previous: dict[str, Any] | None,
    creating: bool,
    is_exception: bool = False,
    by_google: bool = False,
) -> dict[str, Any]:
    """Validate the client-settable fields of ``body``; return them, normalised. ``by_google``:
    Google itself creates the event (Gmail's ``fromGmail`` events), which no client may."""
    if not isinstance(body, dict):
        raise ApiError(400, "parseError", "Parse Error")
    fields: dict[str, Any] = {}
    for key in _STRING_FIELDS:
        if _string(body, key) is not None:
            fields[key] = body[key]
    status = _enum(body, "status", ("confirmed", "tentative", "cancelled"))
    fields["status"] = status or "confirmed"
    transparency = _enum(body, "transparency", ("opaque", "transparent"))
    if transparency == "transparent":
        fields["transparency"] = transparency  # "opaque" is the default and not echoed
    visibility = _enum(body, "visibility", ("default", "public", "private", "confidential"))
    if visibility not in (None, "default"):
        fields["visibility"] = visibility
    for key in _BOOL_FIELDS:
        if body.get(key) is not None:
            if not isinstance(body[key], bool):
                raise bad_request(f"Invalid value for: {key}")
            fields[key] = body[key]
    for key in _OBJECT_FIELDS:
        if body.get(key) is not None:
            if not isinstance(body[key], dict):
                raise bad_request(f"Invalid value for: {key}")
            fields[key] = copy.deepcopy(body[key])

    start, end = _when(body, "start", "start"), _when(body, "end", "end")
    if start.all_day != end.all_day:
        raise bad_request("Invalid start time." if end.all_day else "Invalid end time.")
    if end.utc(calendar.zone) < start.utc(calendar.zone) or (
        start.all_day and end.utc(calendar.zone) == start.utc(calendar.zone)
    ):
        raise bad_request("The specified time range is empty.", "timeRangeEmpty")
    fields["start"], fields["end"] = start.render(calendar.zone), end.render(calendar.zone)

    recurrence = body.get("recurrence")
    if recurrence:
        if is_exception:
            raise bad_request("Invalid recurrence rule.")  # instances cannot carry rules
        if not isinstance(recurrence, list) or not all(isinstance(x, str) for x in recurrence):
            raise bad_request("Invalid recurrence rule.")
        if not start.all_day and (start.zone is None or end.zone is None):
            which = "start" if start.zone is None else "end"
            raise required(f"Missing time zone definition for {which} time.")
        try:
            Recurrence(list(recurrence), start, end, calendar.zone)
        except ValueError:
            raise bad_request("Invalid recurrence rule.") from None
        fields["recurrence"] = list(recurrence)

    event_type = _enum(body, "eventType", EVENT_TYPES)
    previous_type = (previous or {}).get("eventType", "default")
    if event_type is None:
        event_type = "default" if creating else previous_type
    if not creating and event_type != previous_type:
        raise bad_request("The event type cannot be changed.", "eventTypeRestriction")
    if creating and not (by_google and event_type == "fromGmail"):
        _check_event_type(event_type, start, calendar, recurrence)
    fields["eventType"] = event_type

    if body.get("attendees") is not None:
        attendees = _attendees(body["attendees"], calendar)
        if attendees:
            fields["attendees"] = attendees
    if body.get("extendedProperties") is not None:
        ext = _extended_properties(body["extendedProperties"])
        if ext:
            fields["extendedProperties"] = ext
    fields["reminders"] = _reminders(body["reminders"]) if body.get("reminders") is not None else {
        "useDefault": True
    }
    return fields


def _check_event_type(event_type: str, start: When, calendar: CalendarInfo, recurrence: Any) -> None:
    if event_type == "fromGmail":
        raise bad_request("Event type fromGmail cannot be created.", "eventTypeRestriction")
    if event_type in PRIMARY_ONLY_TYPES and not calendar.primary:
        raise bad_request(
            f"Event type {event_type} can only be created on the primary calendar.", "eventTypeRestriction"
        )
    if event_type in ("outOfOffice", "focusTime") and start.all_day:
        raise bad_request(f"Event type {event_type} cannot be an all-day event.", "eventTypeRestriction")
    if event_type == "birthday" and (not start.all_day or not recurrence or not any(
        "FREQ=YEARLY" in line.upper() for line in recurrence
    )):
        raise bad_request("Birthday events must be all-day events with a yearly recurrence.",
                          "eventTypeRestriction")


def html_link(event_id: str, calendar_id: str) -> str:
    eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).decode().rstrip("=")
    return f"https://www.google.com/calendar/event?eid={eid}"


def finish(
    fields: dict[str, Any],
    *,
    event_id: str,
    calendar: CalendarInfo,
    now: dt.datetime,
    etag: str,
    previous: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Add the server-written fields to normalised ``fields``; key order as Google writes it."""
    resource: dict[str, Any] = dict(fields)
    resource.update(extra or {})
    sequence = (previous or {}).get("sequence", 0)
    if previous is not None and any(previous.get(k) != fields.get(k) for k in ("start", "end", "recurrence")):
        sequence += 1
    organizer: dict[str, Any] = {"email": calendar.id, "self": True}
    if not calendar.primary:
        organizer["displayName"] = calendar.summary
    resource.update(
        kind="calendar#event",
        etag=etag,
        id=event_id,
        htmlLink=html_link(event_id, calendar.id),
        created=(previous or {}).get("created", format_utc_ms(now)),
        updated=format_utc_ms(now),
        creator=(previous or {}).get("creator", {"email": calendar.owner, "self": True}),
        organizer=(previous or {}).get("organizer", organizer),
        iCalUID=(previous or {}).get("iCalUID", f"{event_id}@google.com"),
        sequence=sequence,
    )
    ordered = {k: resource[k] for k in _KEY_ORDER if k in resource}
    ordered.update({k: v for k, v in resource.items() if k not in ordered})
    return ordered


def instance_of(base: dict[str, Any], occurrence: Occurrence, calendar_zone: str) -> dict[str, Any]:
    """The generated instance of recurring ``base`` at ``occurrence`` (no exception stored)."""
    instance = {k: copy.deepcopy(v) for k, v in base.items() if k != "recurrence"}
    instance["id"] = f"{base['id']}_{occurrence.key}"
    instance["htmlLink"] = html_link(instance["id"], base["organizer"]["email"])
    instance["start"] = occurrence.start.render(calendar_zone)
    instance["end"] = occurrence.end.render(calendar_zone)
    instance["recurringEventId"] = base["id"]
    instance["originalStartTime"] = occurrence.original.render(calendar_zone)
    ordered = {k: instance[k] for k in _KEY_ORDER if k in instance}
    ordered.update({k: v for k, v in instance.items() if k not in ordered})
    return ordered


def tombstone(resource: dict[str, Any]) -> dict[str, Any]:
    """What incremental sync shows of a deleted event: kind, etag, id, status (and, for a
    cancelled instance of a recurring event, recurringEventId and originalStartTime)."""
    minimal = {"kind": "calendar#event", "etag": resource["etag"], "id": resource["id"], "status": "cancelled"}
    for key in ("recurringEventId", "originalStartTime"):
        if key in resource:
            minimal[key] = copy.deepcopy(resource[key])
    return minimal


def in_zone(resource: dict[str, Any], zone: str | None, max_attendees: int | None) -> dict[str, Any]:
    """A copy for output: floating ``dateTime`` values re-rendered in the requested zone and
    attendees cut to ``maxAttendees`` (only the calendar's own attendee kept, as Google does)."""
    out = copy.deepcopy(resource)
    if zone is not None:
        for key in ("start", "end", "originalStartTime"):
            value = out.get(key)
            if isinstance(value, dict) and "dateTime" in value and "timeZone" not in value:
                parsed = parse_when(value, key)
                assert parsed.instant is not None
                value["dateTime"] = format_in_zone(parsed.instant, zone)
    attendees = out.get("attendees")
    if max_attendees is not None and attendees and len(attendees) > max_attendees:
        out["attendees"] = [a for a in attendees if a.get("self")]
        out["attendeesOmitted"] = True
    return out
