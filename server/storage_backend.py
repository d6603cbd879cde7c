"""Radicale storage adapter: database rows to collections and items, for one link per request.

Layout below the CalDAV root: "/" -> "/link-<id>/" (the link's principal, whose home lists its
calendars) -> "/link-<id>/<calendar slug>/" -> "<uid>.ics". Every item comes with its text,
ETag, UID, component and time range, so Radicale never parses it to answer GET, PROPFIND,
multiget, sync-collection or a time-range query. Sync tokens, ctags and ETags come from the
journal; queries are indexed (no method walks every item unless the client asked for all).

No HTTP and no policy here: which calendars and what they show come from the request context
(the link) and from server/publishing/publish.py, which takes its view from server/redaction.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import xml.etree.ElementTree as ET
from email.utils import format_datetime
from typing import Any, Iterable, Iterator, Mapping

from radicale import item as radicale_item
from radicale import pathutils
from radicale import storage as radicale_storage
from radicale.item import filter as radicale_filter

from server.publishing.dav_context import DavRequest, current
from server.db.models import Business, Calendar, PersonalCalendar
from server.domain import phone_event
from server.domain import journal, phone_writes
from server.errors import GoneError
from server.publishing.ical import RENDER_VERSION, item_document, render_timezone
from server.publishing.publish import Published

SYNC_PREFIX = "http://bookingcal.invalid/ns/sync/"
UTC = dt.timezone.utc


def http_date(value: dt.datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _instant(timestamp: int) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        return dt.datetime(1, 1, 2, tzinfo=UTC) if timestamp < 0 else \
            dt.datetime(9999, 12, 30, tzinfo=UTC)


def _document(item: Published) -> str:
    """The item as a CalDAV resource: its VEVENT with the VTIMEZONE it uses (or, for a
    writable account's own personal event, the text its phone sent)."""
    if item.document is not None:
        return item.document
    return item_document(item.event_text, item.tzid)


DESCRIBED = {"full": "bookings and blocked time",
             "limited": "bookings and blocked time, without client details",
             "busy": "busy times"}


def calendar_description(employee: str, profile: str) -> str:
    """A calendar's CALDAV:calendar-description: whose it is and what the link shows."""
    return f"{employee}: {DESCRIBED.get(profile, 'busy times')}"


def principal_displayname(request: DavRequest) -> str:
    """The account's name in a client: the link's label, else the business's name."""
    label = " ".join(request.link.label.split())
    if label:
        return label
    business = request.session.get(Business, request.link.business_id)
    return business.name if business is not None else request.principal


class Collection(radicale_storage.BaseCollection):
    """The root, a link's principal (calendar is None) or one of its calendars."""

    def __init__(self, path: str, calendar: Calendar | None = None,
                 personal: PersonalCalendar | None = None) -> None:
        self._path = path
        self.calendar = calendar
        # A writable account's personal calendar (its events live in `calendar`'s rows).
        self.personal = personal

    @property
    def path(self) -> str:
        return self._path

    def _request(self) -> DavRequest:
        request = current()
        # A writable account's publisher reads one of its collections at a time.
        request.publisher.collection = self.personal.id if self.personal is not None else None
        return request

    def get_meta(self, key: str | None = None) -> Any:
        """A calendar's properties (its employee's name, description, colour, place among the
        link's calendars, zone); the principal's display name (the link's label, else the
        business's name)."""
        meta: dict[str, str] = {}
        if self.calendar is not None:
            request = self._request()
            order = next((n for n, c in enumerate(request.calendars, 1)
                          if c.id == self.calendar.id), len(request.calendars) + 1)
            meta = {"tag": "VCALENDAR", "D:displayname": self.calendar.name,
                    "C:calendar-description": calendar_description(
                        self.calendar.name, request.link.profile),
                    "ICAL:calendar-color": self.calendar.colour,
                    "ICAL:calendar-order": str(order),
                    "C:supported-calendar-component-set": "VEVENT",
                    "C:calendar-timezone": render_timezone(self.calendar.timezone)}
            if self.personal is not None:
                meta.update({"D:displayname": self.personal.name,
                             "C:supported-calendar-component-set": self.personal.components,
                             "C:calendar-description": f"{self.calendar.name}: personal",
                             "ICAL:calendar-order": str(len(request.calendars) + 1
                                                        + self.personal.id)})
                if self.personal.colour is not None:  # removed: it shows none
                    meta["ICAL:calendar-color"] = self.personal.colour
                else:
                    del meta["ICAL:calendar-color"]
        elif self._path and self._path == self._request().principal:
            meta = {"D:displayname": principal_displayname(self._request())}
        return meta if key is None else meta.get(key)

    @property
    def last_modified(self) -> str:
        request = self._request()
        changed = self.calendar.changed_at or self.calendar.updated_at if self.calendar \
            else request.link.updated_at
        return http_date(max(changed, request.link.updated_at))

    @property
    def etag(self) -> str:
        """The ctag: from the journal position, the link's version and the renderer."""
        request = self._request()
        view = request.publisher.view
        # The link's view (reminder, employees' names) changes texts without the journal.
        position = (f"{self.calendar.id}:{self.calendar.journal_seq}"
                    f"{view.calendar_key(self.calendar.id)}" if self.calendar
                    else ",".join(f"{c.id}:{c.journal_seq}{view.calendar_key(c.id)}"
                                  for c in request.calendars))
        if self.personal is not None:
            position += f":personal{self.personal.id}"
        key = (f"{request.epoch}:{request.link.id}:{request.link.profile}:"
               f"{request.link.updated_at.isoformat()}:{position}:{RENDER_VERSION}")
        if request.link.writable:  # its phone's alarms on bookings are part of its view
            key += f":alarms{request.link.alarm_seq}"
        return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'

    # --- items ------------------------------------------------------------------------------

    def _item(self, item: Published) -> radicale_item.Item:
        if item.kind == "task":  # it takes no time: any range may hold it
            return radicale_item.Item(
                collection=self, href=item.href, last_modified=http_date(item.updated),
                text=_document(item), etag=item.etag, uid=item.uid, name="VCALENDAR",
                component_name="VTODO",
                time_range=(radicale_filter.TIMESTAMP_MIN, radicale_filter.TIMESTAMP_MAX))
        end = item.end_utc.timestamp() if item.end_utc is not None else \
            radicale_filter.TIMESTAMP_MAX
        return radicale_item.Item(
            collection=self, href=item.href, last_modified=http_date(item.updated),
            text=_document(item), etag=item.etag, uid=item.uid, name="VCALENDAR",
            component_name="VEVENT",
            time_range=(math.floor(item.start_utc.timestamp()), math.ceil(end)))

    def get_all(self) -> Iterator[radicale_item.Item]:
        if self.calendar is None:
            return
        for item in self._request().publisher.everything(self.calendar):
            yield self._item(item)

    def get_multi(self, hrefs: Iterable[str]
                  ) -> Iterator[tuple[str, radicale_item.Item | None]]:
        wanted = list(dict.fromkeys(hrefs))  # consuming it tells Radicale hrefs were asked
        found: dict[str, Published] = {}
        if self.calendar is not None:
            uids = [href[:-4] for href in wanted if href.endswith(".ics")]
            found = {item.href: item for item in
                     self._request().publisher.by_uids(self.calendar, uids)}
        for href in wanted:
            item = found.get(href)
            yield href, self._item(item) if item is not None else None

    def has_uid(self, uid: str) -> bool:
        if self.calendar is None:
            return False
        return bool(self._request().publisher.by_uids(self.calendar, [uid]))

    def get_filtered(self, filters: Iterable[ET.Element]
                     ) -> Iterator[tuple[radicale_item.Item, bool]]:
        """Items of a calendar-query from an indexed range query. The flag claims a certain
        match only for a one-off event under a simple time-range filter; Radicale checks the
        rest itself (repeating items, property filters)."""
        filters = list(filters)
        if self.calendar is None or not self.tag:
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self.tag)
        request = self._request()
        if request.report_expand and request.report_range is not None and \
                (start, end) == (radicale_filter.TIMESTAMP_MIN, radicale_filter.TIMESTAMP_MAX):
            start, end = request.report_range
        if tag not in (None, "VEVENT", "VTODO"):
            return
        if start <= radicale_filter.TIMESTAMP_MIN and end >= radicale_filter.TIMESTAMP_MAX:
            items: Iterable[Published] = request.publisher.everything(self.calendar)
        else:
            items = request.publisher.in_range([self.calendar], _instant(start), _instant(end))
        # A repeating item under <C:expand> is claimed too: the query applied the range and
        # Radicale re-applies it after expanding (its own check would parse and cache a copy
        # that its expansion then mutates). A task (a writable account's own) is never
        # claimed: Radicale applies the range to its text.
        for item in items:
            if (tag == "VTODO") != (item.kind == "task") and tag is not None:
                continue
            yield self._item(item), simple and item.kind != "task" and \
                (item.kind == "booking" or request.report_expand)

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        """(current token, hrefs changed since `old_token`) from the journal; deleted items
        come back from get_multi as None, which Radicale answers 404. A token that is not
        ours, from another epoch or link version, or older than the journal keeps raises
        ValueError: Radicale answers with the valid-sync-token precondition."""
        if self.calendar is None:
            raise ValueError("not a calendar")
        request = self._request()
        # The link's version (profile and last change, to the microsecond, which covers its
        # reminder) is part of the token: after a profile change every old token forces a full
        # resync of re-rendered text.
        # So is its view of this calendar (an employee renamed in a link that names them).
        view = request.publisher.view.calendar_key(self.calendar.id)
        version = hashlib.sha256(f"{request.link.profile}:{request.link.updated_at.isoformat()}"
                                 f"{view}".encode()).hexdigest()[:12]
        collection = f"{self.calendar.id}" if self.personal is None else \
            f"{self.calendar.id}p{self.personal.id}"
        prefix = f"{SYNC_PREFIX}{request.link.id}-{collection}-{version}/"
        # A writable account's position also counts its phone's alarm changes on bookings
        # ("<epoch>-<journal seq>~<alarm seq>"): they change its view and no one else's.
        own = request.link.writable
        alarm_suffix = f"~{request.link.alarm_seq}" if own else ""
        token = prefix + journal.make_token(request.epoch, self.calendar.journal_seq) + \
            alarm_suffix
        if not old_token:
            return token, (f"{uid}.ics" for uid in request.publisher.uids(self.calendar))
        if not old_token.startswith(prefix):
            raise ValueError("sync token of another calendar or link version")
        position, _, alarms = old_token[len(prefix):].partition("~")
        if own != bool(alarms) or (alarms and not alarms.isdigit()) or \
                (alarms and int(alarms) > request.link.alarm_seq):
            raise ValueError("sync token of another link version")
        try:
            since = journal.parse_token(position, request.epoch)
            found = journal.changes_since(request.session, self.calendar, since)
        except GoneError as exc:
            raise ValueError(exc.message) from None
        names = [f"{change.item_uid}.ics" for change in found.changes
                 if change.kind in ("booking", "blocked") or (own and change.kind == "task")]
        if alarms:
            names.extend(f"{uid}.ics" for uid in phone_writes.alarms_changed_since(
                request.session, request.link.id, self.calendar.id, int(alarms)))
        # The instances stored for a phone's overrides and RDATEs are inside its events.
        return token, [name for name in dict.fromkeys(names)
                       if not (own and phone_event.is_instance_uid(name))]

    # --- read-only: rights already answer 403; these are the backstop ------------------------

    def upload(self, href: str, item: radicale_item.Item
               ) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        raise PermissionError("link calendars are read-only")

    def delete(self, href: str | None = None) -> None:
        raise PermissionError("link calendars are read-only")

    def set_meta(self, props: Mapping[str, str]) -> None:
        raise PermissionError("link calendars are read-only")


class Storage(radicale_storage.BaseStorage):
    """Collections of the current request's link only; anything else does not exist."""

    # Names are rows, not files: any name the mount lets through (a writable account's phone
    # names what it makes, server/domain/resource_names.py) can be served.
    _supports_unicode = True
    _supports_trailing_whitespace = True
    _supports_problematic_chars = True

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any,
                     **kwargs: Any) -> Iterator[None]:
        # The database gives each statement a consistent view; a global lock would only
        # serialise readers. Writing is refused outright.
        if mode != "r":
            raise PermissionError("link calendars are read-only")
        yield

    def discover(self, path: str, depth: str = "0", child_context_manager: Any = None,
                 user_groups: Any = frozenset()
                 ) -> Iterator[radicale_storage.BaseCollection | radicale_item.Item]:
        request = current()
        parts = [p for p in pathutils.strip_path(path).split("/") if p]
        if not parts:
            yield Collection("")
            if depth != "0":
                yield Collection(request.principal)
            return
        if parts[0] != request.principal:
            return
        if len(parts) == 1:
            yield Collection(request.principal)
            if depth != "0":
                for shown in request.calendars:
                    yield Collection(f"{request.principal}/{shown.slug}", shown)
                for made in request.personal_calendars():
                    yield Collection(f"{request.principal}/{made.slug}",
                                     request.calendars[0], made)
            return
        calendar = request.calendar(parts[1])
        personal = request.personal_calendar(parts[1]) if calendar is None else None
        if personal is not None:
            calendar = request.calendars[0]
        if calendar is None or len(parts) > 3:
            return
        collection = Collection(f"{request.principal}/{parts[1]}", calendar, personal)
        if len(parts) == 2:
            yield collection
            if depth != "0":
                yield from collection.get_all()
            return
        for _, item in collection.get_multi([parts[2]]):
            if item is not None:
                yield item

    def create_collection(self, href: str, items: Any = None, props: Any = None) -> Any:
        raise PermissionError("link calendars are read-only")

    def move(self, item: radicale_item.Item, to_collection: radicale_storage.BaseCollection,
             to_href: str) -> None:
        raise PermissionError("link calendars are read-only")

    def verify(self) -> bool:
        return True
