"""Writes of a writable CalDAV account (an employee's phone): PUT and DELETE of one item of its
calendar, answered by the mount without Radicale, through the domain's write path
(server/domain/phone_writes.py). Policy lives there; this module speaks HTTP:

- If-Match / If-None-Match are honoured (412), checked again under the calendar's lock;
- a PUT body is read and checked by server/domain/phone_event.py before anything is written;
- a refusal is a 4xx whose body is a DAV:error holding the CalDAV precondition and the reason
  for people (<BC:reason>); nothing is written, so ETag and sync token stay as they were;
- a personal event is kept as sent: its PUT answers the ETag a GET will give; a moved booking
  is re-rendered by us, so that answer carries no ETag (the phone fetches the booking again);
  alarms the phone adds to a booking are kept for this account only (account_alarms).

A task (VTODO) is kept as sent in a personal calendar (server/domain/phone_tasks.py); the
employee's calendar holds events only, and refuses one with 403 supported-calendar-component.

MKCALENDAR, or an extended MKCOL (RFC 5689) whose resourcetype is a calendar (vdirsyncer's
way), makes a personal calendar of the employee (server/domain/personal_calendars.py); a plain
WebDAV collection cannot be made (403 DAV:valid-resourcetype); PROPPATCH sets or removes its
name and colour (DAV:displayname, calendar-color; checked, all or nothing); DELETE of one
removes it with its events; the employee's calendar itself cannot be created, changed or removed here (403)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
import icalendar
from defusedxml import DefusedXmlException
from sqlalchemy.orm import Session

from server.domain import phone_event
from server.publishing.dav_context import DavRequest
from server.db.models import PersonalCalendar
from server.domain import personal_calendars, phone_tasks, phone_writes
from server.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from server.publishing.linkurls import DAV_PATH
from server.publishing.etags import item_etag
from server.publishing.link_views import with_alarms
from server.publishing.publish import Published

BC_NS = "http://bookingcal.invalid/ns/"
EDITABLE_BOOKING = "only a booking's start and end can be changed from the phone; change " \
                   "its title, notes or client in the booking system"


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


@contextmanager
def _writing(request: DavRequest) -> Iterator[Session]:
    """The write's own transaction, begun after the request's reading one has ended: behind a
    transaction pooler (PgBouncer) a phone's write then holds one server connection at a time,
    as every read does. What the read loaded stays usable, detached."""
    request.session.close()
    with request.runtime.db.write() as session:
        yield session


def refusal(status: str, precondition: str, reason: str) -> Answer:
    """A DAV:error naming the precondition, with the reason for people."""
    prefix, _, name = precondition.partition(":")
    body = ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
            f'xmlns:BC="{BC_NS}"><{prefix}:{name}/>'
            f'<BC:reason>{escape(reason)}</BC:reason></D:error>\n').encode()
    return Answer(status, [("Content-Type", "application/xml; charset=utf-8")], body)


def _etags(header: str) -> set[str]:
    return {part.strip() for part in header.split(",") if part.strip()}


def _precondition_failed(environ: dict[str, Any], item: Published | None) -> bool:
    if_match = environ.get("HTTP_IF_MATCH", "")
    if if_match:
        wanted = _etags(if_match)
        if item is None or ("*" not in wanted and item.etag not in wanted):
            return True
    none_match = environ.get("HTTP_IF_NONE_MATCH", "")
    if none_match and item is not None:
        wanted = _etags(none_match)
        if "*" in wanted or item.etag in wanted:
            return True
    return False


def _stale() -> Answer:
    return Answer("412 Precondition Failed", [("Content-Type", "text/plain; charset=utf-8")],
                  b"The item changed since you read it; sync again.\n")


def handle(request: DavRequest, method: str, sub_path: str, body: bytes,
           environ: dict[str, Any]) -> Answer:
    """Answer a PUT or DELETE of the writable link of `request`."""
    parts = [p for p in sub_path.split("/") if p]
    if len(parts) < 2 or parts[0] != request.principal:
        return Answer("403 Forbidden")
    try:
        if method in ("MKCALENDAR", "MKCOL"):
            return _mkcalendar(request, parts, body, extended=method == "MKCOL")
        calendar = request.calendar(parts[1])
        personal = request.personal_calendar(parts[1]) if calendar is None else None
        if personal is not None:
            calendar = request.calendars[0]
        if calendar is None:
            return Answer("409 Conflict" if method == "PUT" else "404 Not Found")
        if personal is not None and len(parts) == 2 and method == "DELETE":
            return _delete_personal_calendar(request, personal)
        if method == "PROPPATCH":
            if personal is None or len(parts) != 2:
                return refusal("403 Forbidden", "D:need-privileges",
                               "only a personal calendar's name and colour can be changed here")
            href = quote(environ.get("SCRIPT_NAME", "") + DAV_PATH + "/" + sub_path.lstrip("/"))
            return _proppatch_personal_calendar(request, personal, href, body)
        if len(parts) == 3 and not parts[2].endswith(".ics") and \
                (method == "DELETE" or environ.get("HTTP_IF_MATCH")):
            # No item here has this name (ours are <UID>.ics): a DELETE finds nothing, and an
            # If-Match on it fails (RFC 9110: no current representation), as on a missing item.
            return _stale() if environ.get("HTTP_IF_MATCH") else Answer("404 Not Found")
        if len(parts) > 3:
            return refusal("403 Forbidden", "D:need-privileges",
                           "items are kept directly in a calendar: a name cannot contain a "
                           "slash (/ or %2F)")
        if len(parts) != 3 or not parts[2].endswith(".ics"):
            return refusal("403 Forbidden", "D:need-privileges",
                           "this employee's calendar cannot be created, replaced or removed "
                           "from here")
        uid = parts[2][:-4]
        request.publisher.collection = personal.id if personal is not None else None
        item = request.publisher.by_uid(calendar, uid)
        if _precondition_failed(environ, item):
            return _stale()
        if method == "DELETE":
            return _delete(request, item)
        return _put(request, calendar.id, calendar.timezone, uid, item, body, personal)
    except phone_event.PutRefused as exc:
        return refusal(exc.status, exc.precondition, exc.reason)
    except phone_writes.StaleError:
        return _stale()
    except ConflictError as exc:
        precondition = exc.details.get("precondition") or "C:valid-calendar-object-resource"
        status = "409 Conflict" if precondition == "C:no-uid-conflict" else "403 Forbidden"
        return refusal(status, precondition, exc.message)
    except ForbiddenError as exc:
        return refusal("403 Forbidden", "D:need-privileges", exc.message)
    except InvalidError as exc:
        return refusal("403 Forbidden", "C:valid-calendar-object-resource", exc.message)
    except NotFoundError:
        return Answer("404 Not Found")


def _delete(request: DavRequest, item: Published | None) -> Answer:
    if item is None:
        return Answer("404 Not Found")
    link = request.link
    actor = phone_writes.actor_of(link.id)
    with _writing(request) as session:
        if item.kind == "task":
            phone_tasks.delete(session, link.business_id, item.item_id, request.now, actor,
                               expect_seq=item.seq)
        elif item.kind == "booking":
            phone_writes.cancel_from_phone(session, link.business_id, item.item_id,
                                           request.now, actor, expect_seq=item.seq)
        else:
            phone_writes.delete_personal_event(session, link.business_id, item.item_id,
                                               request.now, actor, expect_seq=item.seq)
    return Answer("204 No Content")


PLAIN_COLLECTION = "only calendars can be made here: send MKCALENDAR, or MKCOL whose " \
                   "DAV:resourcetype holds a CalDAV calendar (RFC 5689)"


def _mkcalendar(request: DavRequest, parts: list[str], body: bytes, extended: bool) -> Answer:
    """A personal calendar of the account's employee, named by the request's displayname;
    `extended`: an MKCOL, which must ask for a calendar."""
    if len(parts) != 2 or len(request.calendars) != 1:
        return refusal("403 Forbidden", "D:need-privileges",
                       "calendars can only be made in this account's home")
    name, components = parts[1], set(personal_calendars.COMPONENTS)
    colour: str | None = None
    if extended and not body.strip():
        return refusal("403 Forbidden", "D:valid-resourcetype", PLAIN_COLLECTION)
    if body.strip():
        try:
            root = SafeET.fromstring(body)
        except (SafeET.ParseError, DefusedXmlException):
            return refusal("400 Bad Request", "D:valid-xml", "the request body is not XML")
        if extended and (root.tag != "{DAV:}mkcol" or root.find(
                "{DAV:}set/{DAV:}prop/{DAV:}resourcetype/"
                "{urn:ietf:params:xml:ns:caldav}calendar") is None):
            return refusal("403 Forbidden", "D:valid-resourcetype", PLAIN_COLLECTION)
        found = root.findtext(".//{DAV:}displayname")
        name = found if found and found.strip() else name
        colour = root.findtext(".//" + CALENDAR_COLOR)
        wanted = root.findall(".//{urn:ietf:params:xml:ns:caldav}comp")
        components = {str(comp.get("name", "")).upper() for comp in wanted} or components
    if components - set(personal_calendars.COMPONENTS):
        return refusal("403 Forbidden", "C:supported-calendar-component",
                       "personal calendars hold events (VEVENT) and tasks (VTODO)")
    try:
        with _writing(request) as session:
            personal_calendars.create(
                session, request.link.business_id, request.calendars[0].id, slug=parts[1],
                name=name, now=request.now, actor=phone_writes.actor_of(request.link.id),
                taken={c.slug for c in request.calendars}, colour=colour,
                components=",".join(c for c in personal_calendars.COMPONENTS
                                    if c in components))
    except InvalidError as exc:
        if exc.details.get("field") == "slug":
            return refusal("400 Bad Request", "BC:valid-name", exc.message)
        return refusal("409 Conflict", "BC:valid-property-value", exc.message)
    return Answer("201 Created")


DISPLAYNAME = "{DAV:}displayname"
CALENDAR_COLOR = "{http://apple.com/ns/ical/}calendar-color"


def _proppatch_personal_calendar(request: DavRequest, personal: PersonalCalendar, href: str,
                                 body: bytes) -> Answer:
    """PROPPATCH of a personal calendar: its DAV:displayname and calendar-color may be set or
    removed; a bad value is 409 with the reason, any other property 403, and then (RFC 4918:
    all or nothing) nothing is changed and the rest is 424."""
    try:
        root = SafeET.fromstring(body)
    except (SafeET.ParseError, DefusedXmlException):
        return refusal("400 Bad Request", "D:valid-xml", "the PROPPATCH body is not XML")
    if root.tag != "{DAV:}propertyupdate":
        return refusal("400 Bad Request", "D:valid-xml",
                       "a PROPPATCH body is a DAV:propertyupdate")
    wanted: dict[str, tuple[str, str]] = {}  # tag -> (set or remove, value); the last wins
    order: list[str] = []
    for update in root:
        action = update.tag.rpartition("}")[2]
        if action not in ("set", "remove"):
            continue
        for group in update:
            if group.tag != "{DAV:}prop":
                continue
            for prop in group:
                if prop.tag not in order:
                    order.append(prop.tag)
                wanted[prop.tag] = (action, prop.text or "")
    failed: dict[str, tuple[str, str]] = {}  # tag -> (status, reason)
    for tag in order:
        action, value = wanted[tag]
        if tag not in (DISPLAYNAME, CALENDAR_COLOR):
            failed[tag] = ("403 Forbidden", "only a personal calendar's displayname and "
                           "calendar-color can be changed")
            continue
        if action != "set":
            continue
        try:
            if tag == DISPLAYNAME:
                personal_calendars.checked_name(value)
            else:
                personal_calendars.checked_colour(value)
        except InvalidError as exc:
            failed[tag] = ("409 Conflict", exc.message)
    if not failed and order:
        name, colour = wanted.get(DISPLAYNAME), wanted.get(CALENDAR_COLOR)
        with _writing(request) as session:
            personal_calendars.describe(
                session, request.link.business_id, personal.id,
                name=name[1] if name is not None and name[0] == "set" else None,
                colour=colour[1] if colour is not None and colour[0] == "set" else None,
                remove_name=name is not None and name[0] == "remove",
                remove_colour=colour is not None and colour[0] == "remove")
    parts = []
    for tag in order:
        status, reason = failed.get(tag, ("424 Failed Dependency" if failed else "200 OK", ""))
        namespace, _, local = tag[1:].partition("}")
        parts.append(
            f'<D:propstat><D:prop><X:{local} xmlns:X="{escape(namespace, {chr(34): "&quot;"})}"'
            f'/></D:prop><D:status>HTTP/1.1 {status}</D:status>'
            + (f"<D:responsedescription>{escape(reason)}</D:responsedescription>"
               if reason else "") + "</D:propstat>")
    text = ('<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"><D:response>'
            f'<D:href>{escape(href)}</D:href>{"".join(parts)}</D:response></D:multistatus>\n')
    return Answer("207 Multi-Status", [("Content-Type", "application/xml; charset=utf-8")],
                  text.encode())


def _delete_personal_calendar(request: DavRequest, personal: PersonalCalendar) -> Answer:
    with _writing(request) as session:
        personal_calendars.delete(session, request.link.business_id, personal.id, request.now,
                                  phone_writes.actor_of(request.link.id))
    return Answer("204 No Content")


def _put(request: DavRequest, calendar_id: int, calendar_tz: str, uid: str,
         item: Published | None, body: bytes, personal: PersonalCalendar | None) -> Answer:
    task = phone_tasks.read(body)
    if task is not None:
        return _put_task(request, calendar_id, uid, item, task, personal)
    if personal is not None and not phone_tasks.holds(personal, "VEVENT"):
        return refusal("403 Forbidden", "C:supported-calendar-component",
                       "this calendar holds tasks (VTODO) only")
    event = phone_event.read(body, calendar_tz)
    if event.uid != uid:
        return refusal("400 Bad Request", "C:valid-calendar-object-resource",
                       "the resource name must be the event's UID followed by .ics")
    link = request.link
    actor = phone_writes.actor_of(link.id)
    if item is not None and item.kind == "booking":
        return _booking_edit(request, item, event, actor)
    with _writing(request) as session:
        collection = session.get(PersonalCalendar, personal.id) if personal else None
        if personal is not None and collection is None:
            raise NotFoundError("the personal calendar was removed meanwhile")
        saved = phone_writes.save_personal_event(
            session, link.business_id, calendar_id, event, request.now, actor,
            expect_seq=item.seq if item is not None else None, collection=collection)
        etag = item_etag(request.epoch, "blocked", saved.id, saved.seq, link.profile)
    return Answer("201 Created" if item is None else "204 No Content", [("ETag", etag)])


def _put_task(request: DavRequest, calendar_id: int, uid: str, item: Published | None,
              task: phone_tasks.TaskText, personal: PersonalCalendar | None) -> Answer:
    """A task (VTODO) into a personal calendar: kept as sent; the employee's calendar holds
    events only (403 supported-calendar-component)."""
    if personal is None or not phone_tasks.holds(personal, "VTODO"):
        return refusal("403 Forbidden", "C:supported-calendar-component",
                       phone_tasks.ONLY_EVENTS if personal is None
                       else "this calendar holds events (VEVENT) only")
    if task.uid != uid:
        return refusal("400 Bad Request", "C:valid-calendar-object-resource",
                       "the resource name must be the task's UID followed by .ics")
    if item is not None and item.kind != "task":
        return refusal("409 Conflict", "C:no-uid-conflict",
                       "an event has this name; a task needs a UID of its own")
    link = request.link
    with _writing(request) as session:
        collection = session.get(PersonalCalendar, personal.id)
        if collection is None:
            raise NotFoundError("the personal calendar was removed meanwhile")
        saved = phone_tasks.save(session, link.business_id, calendar_id, collection, task,
                                 request.now, phone_writes.actor_of(link.id),
                                 expect_seq=item.seq if item is not None else None)
        etag = item_etag(request.epoch, "task", saved.id, saved.seq, link.profile)
    return Answer("201 Created" if item is None else "204 No Content", [("ETag", etag)])


def _value(component: Any, name: str) -> str:
    value = component.get(name)
    return "" if value is None else str(value).strip()


def _booking_edit(request: DavRequest, item: Published, event: phone_event.PhoneEvent,
                  actor: str) -> Answer:
    """A PUT of one of our bookings: a move (its times) or nothing; anything else is refused."""
    ours: Any = icalendar.Event.from_ical(item.event_text)
    changed = [name for name, theirs in (("SUMMARY", event.summary),
                                         ("DESCRIPTION", event.description or ""),
                                         ("LOCATION", event.location or ""))
               if _value(ours, name) != theirs.strip()]
    if changed or event.rrule or event.all_day or event.overrides:
        raise ConflictError(EDITABLE_BOOKING)
    start, end = ours["DTSTART"].dt, ours["DTEND"].dt
    same_times = isinstance(start, dt.datetime) and isinstance(end, dt.datetime) and \
        start.tzinfo is not None and end.tzinfo is not None and \
        start == event.start_utc and end == event.end_utc
    runtime, link = request.runtime, request.link
    with _writing(request) as session:
        if not same_times:
            phone_writes.move_booking(session, link.business_id, item.item_id,
                                      start=event.start_utc, end=event.end_utc,
                                      now=request.now, actor=actor,
                                      rules=runtime.config.availability,
                                      expect_seq=item.seq)
        elif item.seq != phone_writes.booking_seq(session, link.business_id, item.item_id):
            raise phone_writes.StaleError("the booking changed meanwhile; sync again")
        # Alarms the phone added are kept for this account, never on the booking.
        version = phone_writes.keep_alarms(session, link.business_id, link.id, item.item_id,
                                           event.alarms)
    if not same_times:
        return Answer("204 No Content")  # our rendering differs from what was sent
    etag = item_etag(request.epoch, "booking", item.item_id, item.seq,
                     with_alarms(link.profile, version))
    return Answer("204 No Content", [("ETag", etag)])
