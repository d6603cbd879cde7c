"""In-memory model of the fake's calendars and events: change sequence, sync and page tokens.

Every public method takes the store's lock.  ``user`` is the e-mail address an access token
belongs to; a calendar the user does not own is answered 404, as Google does.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import random
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .google_errors import (
    ApiError,
    bad_request,
    deleted,
    duplicate,
    full_sync_required,
    not_found,
    precondition_failed,
    writer_access_required,
)
from .google_events import (
    INSTANCE_ID,
    OUTPUT_ONLY,
    CalendarInfo,
    check_client_id,
    finish,
    in_zone,
    instance_of,
    merge_patch,
    new_event_id,
    normalise,
    tombstone,
    writable_view,
)
from .google_params import SYSTEM, Params
from .google_time import FakeClock, Recurrence, format_utc_ms, is_zone, parse_rfc3339, parse_when

MAX_PAGE = 2500
_SYNC_FORBIDDEN = ("iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty",
                   "timeMin", "timeMax", "updatedMin")
_PAGE_EXCLUDE = frozenset({"pageToken", "maxResults"}) | SYSTEM


@dataclass
class StoredEvent:
    data: dict[str, Any]
    seq: int
    # Instance ids earlier versions of a recurring event produced -> their originalStartTime.
    former_instances: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return bool(self.data.get("status") == "cancelled")


@dataclass
class Calendar:
    info: CalendarInfo
    created_seq: int
    events: dict[str, StoredEvent] = field(default_factory=dict)
    generation: int = 0
    seq: int = 0
    updated: dt.datetime | None = None


@dataclass(frozen=True)
class SyncState:
    scope: str  # calendar id, or "calendarList:<user>"
    seq: int
    generation: int


@dataclass(frozen=True)
class PageState:
    scope: str
    fingerprint: tuple[Any, ...]
    items: list[dict[str, Any]]
    offset: int
    header: dict[str, Any]
    sync_token: str | None


@dataclass(frozen=True)
class ListQuery:
    single_events: bool
    show_deleted: bool
    time_min: dt.datetime | None
    time_max: dt.datetime | None
    updated_min: dt.datetime | None
    order_by: str | None
    q: list[str]
    private: list[tuple[str, str]]
    shared: list[tuple[str, str]]
    event_types: list[str]
    ical_uid: str | None
    sync: SyncState | None
    zone: str | None
    max_attendees: int | None


def _props(params: Params, name: str) -> list[tuple[str, str]]:
    pairs = []
    for item in params.values(name):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise bad_request(f"Invalid value for: {name}")
        pairs.append((key, value))
    return pairs


class CalendarStore:
    """Users, their calendars and events; thread-safe."""

    def __init__(
        self,
        clock: FakeClock,
        rng: random.Random,
        *,
        horizon: dt.timedelta,
        on_change: Callable[[str], None],
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.rng = rng
        self.horizon = horizon
        self.page_size_cap: int | None = None
        self._on_change = on_change
        self._seq = 0
        self._calendars: dict[str, Calendar] = {}
        self._primary: dict[str, str] = {}  # user -> primary calendar id
        self._readers: dict[str, set[str]] = {}  # calendar id -> users it is shared with, read-only
        self._syncs: dict[str, SyncState] = {}
        self._pages: dict[str, PageState] = {}

    # ------------------------------------------------------------------ admin

    def add_user(self, email: str, zone: str) -> None:
        with self.lock:
            if email in self._primary:
                return
            self._primary[email] = email
            self._add_calendar(CalendarInfo(email, email, email, zone, True))

    def add_calendar(self, owner: str, calendar_id: str | None, summary: str, zone: str) -> str:
        with self.lock:
            if owner not in self._primary:
                raise KeyError(f"unknown user {owner}")
            if calendar_id is None:
                token = "".join(self.rng.choice("0123456789abcdef") for _ in range(52))
                calendar_id = f"c_{token}@group.calendar.google.com"
            if calendar_id in self._calendars:
                raise ValueError(f"calendar {calendar_id} exists")
            self._add_calendar(CalendarInfo(calendar_id, owner, summary, zone, False))
            return calendar_id

    def _add_calendar(self, info: CalendarInfo) -> None:
        if not is_zone(info.zone):
            raise ValueError(f"unknown time zone {info.zone}")
        self._seq += 1
        self._calendars[info.id] = Calendar(info, created_seq=self._seq, seq=self._seq, updated=self.clock.now())

    def share_read_only(self, calendar_id: str, user: str) -> None:
        """Share ``calendar_id`` with ``user`` as a reader: reads work, writes answer 403."""
        with self.lock:
            if calendar_id not in self._calendars:
                raise KeyError(calendar_id)
            self._readers.setdefault(calendar_id, set()).add(user)

    def users(self) -> list[str]:
        with self.lock:
            return list(self._primary)

    def calendar(self, user: str, calendar_id: str, *, write: bool = False) -> Calendar:
        """The calendar ``calendar_id`` (or ``primary``) if ``user`` owns it, or reads it when it
        is shared read-only (a write to it answers 403); else 404."""
        with self.lock:
            if calendar_id == "primary":
                calendar_id = self._primary.get(user, "")
            cal = self._calendars.get(calendar_id)
            if cal is None:
                raise not_found()
            if cal.info.owner != user:
                if user not in self._readers.get(calendar_id, set()):
                    raise not_found()
                if write:
                    raise writer_access_required()
            return cal

    def owner_of(self, calendar_id: str) -> str:
        with self.lock:
            cal = self._calendars.get(calendar_id)
            if cal is None:
                raise KeyError(calendar_id)
            return cal.info.owner

    def invalidate_sync_tokens(self, calendar_id: str) -> None:
        with self.lock:
            self._calendars[calendar_id].generation += 1

    def expire_page_tokens(self) -> None:
        """Every page token issued so far is refused from now on (Google's live a while)."""
        with self.lock:
            self._pages.clear()

    def snapshot(self, calendar_id: str, *, include_deleted: bool) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(ev.data) for ev in self._calendars[calendar_id].events.values()
                    if include_deleted or not ev.cancelled]

    def stored(self, calendar_id: str, event_id: str) -> dict[str, Any] | None:
        with self.lock:
            ev = self._calendars[calendar_id].events.get(event_id)
            return copy.deepcopy(ev.data) if ev else None

    # ---------------------------------------------------------------- tokens

    def _new_token(self, prefix: str) -> str:
        return prefix + base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()

    def _issue_sync(self, scope: str, generation: int) -> str:
        token = self._new_token("CPDA")
        self._syncs[token] = SyncState(scope, self._seq, generation)
        return token

    def _check_sync(self, token: str, scope: str, generation: int) -> SyncState:
        if not token.startswith("CPDA"):
            raise bad_request("Invalid sync token value.", location="syncToken")
        state = self._syncs.get(token)
        if state is None or state.scope != scope or state.generation != generation:
            raise full_sync_required()
        return state

    def _page(
        self,
        *,
        scope: str,
        params: Params,
        default_size: int,
        max_size: int,
        build: Callable[[], tuple[list[dict[str, Any]], dict[str, Any], str | None]],
    ) -> dict[str, Any]:
        """One page of a listing; the first request snapshots the whole result."""
        size = min(params.integer("maxResults", default_size, minimum=1), max_size)
        if self.page_size_cap is not None:
            size = min(size, self.page_size_cap)
        fingerprint = params.fingerprint(exclude=_PAGE_EXCLUDE)
        page_token = params.value("pageToken")
        if page_token is not None:
            state = self._pages.get(page_token)
            if state is None or state.scope != scope or state.fingerprint != fingerprint:
                raise bad_request("Invalid page token value.", location="pageToken")
            items, header, sync_token, offset = state.items, state.header, state.sync_token, state.offset
        else:
            items, header, sync_token = build()
            offset = 0
        body = dict(header)
        end = offset + size
        if end < len(items):
            token = self._new_token("EjcK")
            self._pages[token] = PageState(scope, fingerprint, items, end, header, sync_token)
            body["nextPageToken"] = token
        elif sync_token is not None:
            body["nextSyncToken"] = sync_token
        body["items"] = copy.deepcopy(items[offset:end])
        return body

    # ---------------------------------------------------------- calendar list

    def calendar_list(self, user: str, params: Params) -> dict[str, Any]:
        with self.lock:
            params.enum("minAccessRole", ("freeBusyReader", "owner", "reader", "writer"))
            params.flag("showDeleted")
            params.flag("showHidden")
            scope = f"calendarList:{user}"

            def build() -> tuple[list[dict[str, Any]], dict[str, Any], str | None]:
                cals = [c for c in self._calendars.values() if c.info.owner == user]
                sync_token = params.value("syncToken")
                if sync_token is not None:
                    state = self._check_sync(sync_token, scope, 0)
                    cals = [c for c in cals if c.created_seq > state.seq]
                header = {"kind": "calendar#calendarList", "etag": f'"p{self._seq:015d}"'}
                return [self._list_entry(c) for c in cals], header, self._issue_sync(scope, 0)

            return self._page(scope=scope, params=params, default_size=100, max_size=250, build=build)

    def calendar_entry(self, user: str, calendar_id: str) -> dict[str, Any]:
        with self.lock:
            return self._list_entry(self.calendar(user, calendar_id))

    def calendar_resource(self, user: str, calendar_id: str) -> dict[str, Any]:
        with self.lock:
            cal = self.calendar(user, calendar_id)
            return {"kind": "calendar#calendar", "etag": f'"{cal.seq:015d}"', "id": cal.info.id,
                    "summary": cal.info.summary, "timeZone": cal.info.zone,
                    "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]}}

    @staticmethod
    def _list_entry(cal: Calendar) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kind": "calendar#calendarListEntry",
            "etag": f'"{cal.created_seq:015d}"',
            "id": cal.info.id,
            "summary": cal.info.summary,
            "timeZone": cal.info.zone,
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}] if cal.info.primary else [],
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
        }
        if cal.info.primary:
            entry["primary"] = True
        return entry

    # ---------------------------------------------------------------- listing

    def _query(self, cal: Calendar, params: Params) -> ListQuery:
        sync_token = params.value("syncToken")
        if sync_token is not None:
            for name in _SYNC_FORBIDDEN:
                if params.has(name):
                    raise bad_request(f"Sync token cannot be used together with the {name} parameter.",
                                      location=name)
        time_min, time_max = params.timestamp("timeMin"), params.timestamp("timeMax")
        if time_min is not None and time_max is not None and time_max <= time_min:
            raise bad_request("The specified time range is empty.", "timeRangeEmpty", location="timeMax")
        single = params.flag("singleEvents")
        order_by = params.enum("orderBy", ("startTime", "updated"))
        if order_by == "startTime" and not single:
            raise bad_request("The requested ordering is not available for the particular query.",
                              location="orderBy")
        zone = params.value("timeZone")
        if zone is not None and not is_zone(zone):
            raise bad_request("Invalid time zone.", location="timeZone")
        max_attendees = params.integer("maxAttendees", 0, minimum=1) if params.has("maxAttendees") else None
        for name in ("alwaysIncludeEmail", "showHiddenInvitations"):
            params.flag(name)
        return ListQuery(
            single_events=single,
            show_deleted=params.flag("showDeleted"),
            time_min=time_min,
            time_max=time_max,
            updated_min=params.timestamp("updatedMin"),
            order_by=order_by,
            q=(params.value("q") or "").lower().split(),
            private=_props(params, "privateExtendedProperty"),
            shared=_props(params, "sharedExtendedProperty"),
            event_types=[t for t in params.values("eventTypes")],
            ical_uid=params.value("iCalUID"),
            sync=self._check_sync(sync_token, cal.info.id, cal.generation) if sync_token is not None else None,
            zone=zone,
            max_attendees=max_attendees,
        )

    def list_events(self, user: str, calendar_id: str, params: Params) -> dict[str, Any]:
        with self.lock:
            cal = self.calendar(user, calendar_id)
            for event_type in params.values("eventTypes"):
                if event_type not in ("birthday", "default", "focusTime", "fromGmail", "outOfOffice",
                                      "workingLocation"):
                    raise bad_request(f"Invalid value for: eventTypes ({event_type})", location="eventTypes")

            def build() -> tuple[list[dict[str, Any]], dict[str, Any], str | None]:
                query = self._query(cal, params)
                items = self._incremental(cal, query) if query.sync is not None else self._full(cal, query)
                items = self._order(cal, items, query.order_by)
                items = [in_zone(item, query.zone, query.max_attendees) for item in items]
                return items, self._events_header(cal, query.zone), self._issue_sync(cal.info.id, cal.generation)

            return self._page(scope=cal.info.id, params=params, default_size=250, max_size=MAX_PAGE, build=build)

    def instances(self, user: str, calendar_id: str, event_id: str, params: Params) -> dict[str, Any]:
        with self.lock:
            cal = self.calendar(user, calendar_id)
            base = cal.events.get(event_id)
            if base is None or "recurringEventId" in base.data:
                raise not_found()
            original = params.value("originalStart")

            def build() -> tuple[list[dict[str, Any]], dict[str, Any], str | None]:
                time_min, time_max = params.timestamp("timeMin"), params.timestamp("timeMax")
                if time_min is not None and time_max is not None and time_max <= time_min:
                    raise bad_request("The specified time range is empty.", "timeRangeEmpty")
                zone = params.value("timeZone")
                query = ListQuery(True, params.flag("showDeleted"), time_min, time_max, None, None, [], [], [],
                                  [], None, None, zone, None)
                items = self._series(cal, base, query, self._exceptions(cal).get(base.data["id"], []))
                if original is not None:
                    items = [i for i in items if original in (i["originalStartTime"].get("dateTime"),
                                                                 i["originalStartTime"].get("date"))]
                items = [in_zone(item, zone, None) for item in items]
                return items, self._events_header(cal, zone), None

            if not base.data.get("recurrence"):
                return {**self._events_header(cal, None), "items": []}
            return self._page(scope=f"{cal.info.id}/{event_id}", params=params, default_size=250,
                              max_size=MAX_PAGE, build=build)

    def _events_header(self, cal: Calendar, zone: str | None) -> dict[str, Any]:
        header: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"p{cal.seq:015d}"',
            "summary": cal.info.summary,
            "description": "",
            "updated": format_utc_ms(cal.updated or self.clock.now()),
            "timeZone": zone or cal.info.zone,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}] if cal.info.primary else [],
        }
        return header

    @staticmethod
    def _exceptions(cal: Calendar) -> dict[str, list[StoredEvent]]:
        result: dict[str, list[StoredEvent]] = {}
        for ev in cal.events.values():
            if "recurringEventId" in ev.data:
                result.setdefault(ev.data["recurringEventId"], []).append(ev)
        return result

    def _horizon(self) -> dt.datetime:
        return self.clock.now() + self.horizon

    def _recurrence(self, cal: Calendar, data: dict[str, Any]) -> Recurrence:
        return Recurrence(list(data["recurrence"]), parse_when(data["start"], "start"),
                          parse_when(data["end"], "end"), cal.info.zone)

    def _overlaps(self, cal: Calendar, data: dict[str, Any], query: ListQuery) -> bool:
        start = parse_when(data["start"], "start").utc(cal.info.zone)
        end = parse_when(data["end"], "end").utc(cal.info.zone)
        if query.time_max is not None and start >= query.time_max:
            return False
        if query.time_min is not None and end <= query.time_min:
            return False
        return True

    @staticmethod
    def _matches(data: dict[str, Any], query: ListQuery) -> bool:
        if query.updated_min is not None and parse_rfc3339(data["updated"]) < query.updated_min:
            return False
        if query.event_types and data.get("eventType", "default") not in query.event_types:
            return False
        if query.ical_uid is not None and data.get("iCalUID") != query.ical_uid:
            return False
        ext = data.get("extendedProperties", {})
        for scope, wanted in (("private", query.private), ("shared", query.shared)):
            props = ext.get(scope, {})
            if any(props.get(k) != v for k, v in wanted):
                return False
        if query.q:
            haystack = " ".join(
                [str(data.get(k, "")) for k in ("summary", "description", "location")]
                + [f"{a.get('email', '')} {a.get('displayName', '')}" for a in data.get("attendees", [])]
                + [str(data.get("organizer", {}).get("email", ""))]
            ).lower()
            if not all(term in haystack for term in query.q):
                return False
        return True

    @staticmethod
    def _emit(data: dict[str, Any], cancelled: bool, query: ListQuery) -> dict[str, Any]:
        if cancelled and not query.show_deleted:
            return tombstone(data)
        if cancelled and data.get("status") != "cancelled":
            return {**data, "status": "cancelled"}  # an instance of a deleted series
        return data

    def _full(self, cal: Calendar, query: ListQuery) -> list[dict[str, Any]]:
        exceptions = self._exceptions(cal)
        out: list[dict[str, Any]] = []
        for ev in cal.events.values():
            data = ev.data
            if "recurringEventId" in data:
                if query.single_events:
                    continue  # shown through its series
                base = cal.events.get(data["recurringEventId"])
                series_alive = base is not None and not base.cancelled
                if ev.cancelled and not (series_alive or query.show_deleted or query.updated_min):
                    continue
            elif data.get("recurrence") and query.single_events:
                out.extend(self._series(cal, ev, query, exceptions.get(data["id"], [])))
                continue
            elif ev.cancelled and not (query.show_deleted or query.updated_min):
                continue
            if not self._matches(data, query):
                continue
            if data.get("recurrence") and not ev.cancelled:
                if not any(True for _ in self._recurrence(cal, data).occurrences(
                        query.time_max or self._horizon(), query.time_min)):
                    continue
            elif not self._overlaps(cal, data, query):
                continue
            out.append(self._emit(data, ev.cancelled, query))
        return out

    def _series(
        self, cal: Calendar, base: StoredEvent, query: ListQuery, exceptions: list[StoredEvent]
    ) -> list[dict[str, Any]]:
        """Instances of ``base`` in the query's window (exceptions applied)."""
        items: dict[str, tuple[dict[str, Any], bool]] = {}
        for occurrence in self._recurrence(cal, base.data).occurrences(
            query.time_max or self._horizon(), query.time_min
        ):
            instance_id = f"{base.data['id']}_{occurrence.key}"
            stored = cal.events.get(instance_id)
            if stored is not None:
                items[instance_id] = (stored.data, stored.cancelled or base.cancelled)
            else:
                items[instance_id] = (instance_of(base.data, occurrence, cal.info.zone), base.cancelled)
        for exc in exceptions:  # moved into the window from outside it
            items.setdefault(exc.data["id"], (exc.data, exc.cancelled or base.cancelled))
        out = []
        for data, cancelled in items.values():
            if cancelled and not (query.show_deleted or query.updated_min):
                continue
            if not self._overlaps(cal, data, query) or not self._matches(data, query):
                continue
            out.append(self._emit(data, cancelled, query))
        out.sort(key=lambda item: self._start_key(cal, item))
        return out

    def _incremental(self, cal: Calendar, query: ListQuery) -> list[dict[str, Any]]:
        assert query.sync is not None
        changed = sorted((ev for ev in cal.events.values() if ev.seq > query.sync.seq), key=lambda ev: ev.seq)
        out: dict[str, dict[str, Any]] = {}
        everything = ListQuery(True, True, None, None, None, None, [], [], [], [], None, None, None, None)
        for ev in changed:
            data = ev.data
            if query.event_types and data.get("eventType", "default") not in query.event_types:
                continue
            base = cal.events.get(data.get("recurringEventId", ""))
            cancelled = ev.cancelled or (base is not None and base.cancelled)
            if query.single_events and data.get("recurrence"):
                current = self._series(cal, ev, everything, [])
                for former_id, original in ev.former_instances.items():
                    out.setdefault(former_id, tombstone({"etag": data["etag"], "id": former_id,
                                                         "recurringEventId": data["id"],
                                                         "originalStartTime": original}))
                for item in current:
                    out.pop(item["id"], None)
                    out[item["id"]] = self._emit(item, item["status"] == "cancelled", query)
                continue
            out.pop(data["id"], None)
            out[data["id"]] = self._emit(data, cancelled, query)
        return list(out.values())

    def _start_key(self, cal: Calendar, item: dict[str, Any]) -> dt.datetime:
        when = item.get("start") or item.get("originalStartTime")
        return parse_when(when, "start").utc(cal.info.zone) if when else dt.datetime.min.replace(tzinfo=dt.UTC)

    def _order(self, cal: Calendar, items: list[dict[str, Any]], order_by: str | None) -> list[dict[str, Any]]:
        if order_by == "startTime":
            return sorted(items, key=lambda item: self._start_key(cal, item))
        if order_by == "updated":
            return sorted(items, key=lambda item: item.get("updated", ""))
        return items

    # -------------------------------------------------------------- mutations

    def _resolve(self, cal: Calendar, event_id: str) -> tuple[StoredEvent | None, dict[str, Any]]:
        """(stored event or None, its current resource) for an event or instance id; else 404."""
        stored = cal.events.get(event_id)
        if stored is not None:
            return stored, stored.data
        match = INSTANCE_ID.match(event_id)
        if match:
            base = cal.events.get(match.group("base"))
            if base is not None and base.data.get("recurrence"):
                occurrence = self._recurrence(cal, base.data).find(match.group("key"))
                if occurrence is not None:
                    return None, instance_of(base.data, occurrence, cal.info.zone)
        raise not_found()

    def get_event(self, user: str, calendar_id: str, event_id: str, params: Params) -> dict[str, Any]:
        with self.lock:
            cal = self.calendar(user, calendar_id)
            zone = params.value("timeZone")
            if zone is not None and not is_zone(zone):
                raise bad_request("Invalid time zone.", location="timeZone")
            max_attendees = params.integer("maxAttendees", 0, minimum=1) if params.has("maxAttendees") else None
            return in_zone(self._resolve(cal, event_id)[1], zone, max_attendees)

    def _etag(self, seq: int, now: dt.datetime) -> str:
        return f'"{int(now.timestamp() * 1000) * 1_000_000 + seq % 1_000_000}"'

    def _commit(self, cal: Calendar, event_id: str, fields: dict[str, Any], previous: StoredEvent | None,
                previous_data: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        self._seq += 1
        now = self.clock.now()
        data = finish(fields, event_id=event_id, calendar=cal.info, now=now, etag=self._etag(self._seq, now),
                      previous=previous_data, extra=extra)
        former = dict(previous.former_instances) if previous is not None else {}
        if previous is not None and previous.data.get("recurrence") and not previous.cancelled:
            for occurrence in self._recurrence(cal, previous.data).occurrences(self._horizon()):
                former[f"{event_id}_{occurrence.key}"] = occurrence.original.render(cal.info.zone)
        cal.events[event_id] = StoredEvent(data, self._seq, former)
        cal.seq, cal.updated = self._seq, now
        self._on_change(cal.info.id)
        return data

    def insert_event(self, user: str, calendar_id: str, body: Any, *, by_google: bool = False
                     ) -> dict[str, Any]:
        with self.lock:
            cal = self.calendar(user, calendar_id, write=True)
            if not isinstance(body, dict):
                raise ApiError(400, "parseError", "Parse Error")
            if body.get("id") is not None:
                event_id = check_client_id(body["id"])
                if event_id in cal.events:
                    raise duplicate()
            else:
                event_id = new_event_id(self.rng)
            fields = normalise(body, calendar=cal.info, previous=None, creating=True,
                               by_google=by_google)
            return copy.deepcopy(self._commit(cal, event_id, fields, None, None))

    def modify_event(self, user: str, calendar_id: str, event_id: str, body: Any, *, replace: bool,
                     if_match: str | None) -> dict[str, Any]:
        with self.lock:
            cal = self.calendar(user, calendar_id, write=True)
            stored, current = self._resolve(cal, event_id)
            if if_match is not None and if_match != "*" and if_match != current["etag"]:
                raise precondition_failed()
            if not isinstance(body, dict):
                raise ApiError(400, "parseError", "Parse Error")
            given = {k: v for k, v in body.items() if k not in OUTPUT_ONLY and k != "sequence"}
            new_body = given if replace else merge_patch(writable_view(current), given)
            is_exception = "recurringEventId" in current
            if replace and "eventType" not in new_body:
                new_body["eventType"] = current.get("eventType", "default")
            fields = normalise(new_body, calendar=cal.info, previous=current, creating=False,
                               is_exception=is_exception)
            extra = ({k: current[k] for k in ("recurringEventId", "originalStartTime")}
                     if is_exception else None)
            return copy.deepcopy(self._commit(cal, event_id, fields, stored, current, extra))

    def delete_event(self, user: str, calendar_id: str, event_id: str, *, if_match: str | None) -> None:
        with self.lock:
            cal = self.calendar(user, calendar_id, write=True)
            stored, current = self._resolve(cal, event_id)
            if current.get("status") == "cancelled":
                raise deleted()
            if if_match is not None and if_match != "*" and if_match != current["etag"]:
                raise precondition_failed()
            self._cancel(cal, event_id, stored, current)
            if current.get("recurrence"):
                for exc in self._exceptions(cal).get(event_id, []):
                    if not exc.cancelled:
                        self._cancel(cal, exc.data["id"], exc, exc.data)

    def _cancel(self, cal: Calendar, event_id: str, stored: StoredEvent | None, current: dict[str, Any]) -> None:
        fields = writable_view(current)
        fields["status"] = "cancelled"
        extra: dict[str, Any] = {k: current[k] for k in ("recurringEventId", "originalStartTime") if k in current}
        self._commit(cal, event_id, fields, stored, current, extra or None)

    def change_count(self) -> int:
        with self.lock:
            return self._seq

    def all_calendar_ids(self) -> Iterable[str]:
        with self.lock:
            return list(self._calendars)
