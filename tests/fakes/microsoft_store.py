"""The fake Microsoft Graph's mailbox: calendars, events (Graph's JSON shape), a change
sequence for calendarView/delta, delta/skip tokens (opaque, expirable), transactionId dedup,
ETags (`@odata.etag` and `changeKey`) and single-value extended properties. Thread-safe."""

from __future__ import annotations

import copy
import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from . import microsoft_series as series
from .microsoft_errors import GraphError

UTC = dt.timezone.utc


def parse_graph_time(value: dict[str, Any]) -> dt.datetime:
    """A Graph dateTimeTimeZone ({"dateTime", "timeZone"}); the fake takes UTC and Windows
    zone names (every Graph method takes those; only some take IANA names)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphError(400, "ErrorInvalidRequest", "dateTimeTimeZone expected")
    where = series.zone_of(value.get("timeZone"))
    try:
        moment = dt.datetime.fromisoformat(value["dateTime"].rstrip("Z"))
    except ValueError:
        raise GraphError(400, "ErrorInvalidRequest", "bad dateTime") from None
    return moment.replace(tzinfo=where).astimezone(UTC) if moment.tzinfo is None \
        else moment.astimezone(UTC)


def graph_time(moment: dt.datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
            + ".0000000", "timeZone": "UTC"}


ALLOWED = {"subject", "body", "start", "end", "showAs", "isAllDay", "sensitivity", "location",
           "categories", "isReminderOn", "reminderMinutesBeforeStart", "transactionId",
           "singleValueExtendedProperties", "responseRequested", "importance", "recurrence"}
SHOW_AS = {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}


@dataclass
class Event:
    id: str
    calendar: str
    data: dict[str, Any]
    seq: int
    change_key: str
    deleted: bool = False
    former: set[str] = field(default_factory=set)  # occurrence ids a change of series removed

    @property
    def series(self) -> bool:
        return bool(self.data.get("recurrence"))

    def occurrences(self, low: dt.datetime, high: dt.datetime
                    ) -> list[tuple[str, dt.datetime, dt.datetime]]:
        """(id, start, end) of a series master's occurrences overlapping [low, high)."""
        if not self.series:
            return []
        zone = series.zone_of(self.data["start"]["timeZone"])
        return [(f"{self.id}_OC{begin.astimezone(zone):%Y%m%d}", begin, finish)
                for begin, finish in series.occurrences(self.data, low, high)]

    def start(self) -> dt.datetime:
        return parse_graph_time(self.data["start"])

    def end(self) -> dt.datetime:
        return parse_graph_time(self.data["end"])


@dataclass
class DeltaState:
    calendar: str
    start: dt.datetime
    end: dt.datetime
    since: int  # changes after this sequence number
    upto: int  # ... up to this one (the snapshot of the read)
    offset: int = 0
    initial: bool = False  # the first read of the window: what exists, no deletions


@dataclass
class Mailbox:
    """One user's calendars and events."""

    user: str
    calendars: dict[str, str] = field(default_factory=dict)  # id -> name
    events: dict[str, Event] = field(default_factory=dict)
    seq: int = 0
    tokens: dict[str, DeltaState] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    page_size: int = 50  # without a Prefer: odata.maxpagesize
    max_page_size: int = 1000

    def __post_init__(self) -> None:
        self.calendars.setdefault("AAMkCalendar", "Calendar")

    def calendar(self, calendar_id: str) -> str:
        if calendar_id not in self.calendars:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in "
                             "the store.")
        return calendar_id

    def _bump(self, event: Event) -> None:
        self.seq += 1
        event.seq = self.seq
        event.change_key = secrets.token_urlsafe(12)

    def view(self, event: Event) -> dict[str, Any]:
        body = copy.deepcopy(event.data)
        body.pop("singleValueExtendedProperties", None)  # only with $expand
        body.update({"id": event.id, "changeKey": event.change_key,
                     "@odata.etag": f'W/"{event.change_key}"'})
        body.setdefault("showAs", "busy")
        body.setdefault("isAllDay", False)
        body.setdefault("isCancelled", False)
        body.setdefault("sensitivity", "normal")
        body.setdefault("responseStatus", {"response": "organizer"})
        body.setdefault("type", "seriesMaster" if event.series else "singleInstance")
        return body

    def occurrence_view(self, event: Event, occurrence: str, start: dt.datetime,
                        end: dt.datetime) -> dict[str, Any]:
        """An occurrence as calendarView lists it: the master's fields, its own id and times,
        no recurrence and no transactionId."""
        body = self.view(event)
        for key in ("recurrence", "transactionId"):
            body.pop(key, None)
        body.update({"id": occurrence, "type": "occurrence", "seriesMasterId": event.id,
                     "start": graph_time(start), "end": graph_time(end)})
        return body

    # ------------------------------------------------------------------ writes

    def create(self, calendar_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calendar(calendar_id)
            data = self._validated(body, creating=True)
            txn = data.get("transactionId")
            if txn is not None:
                for event in self.events.values():
                    if not event.deleted and event.calendar == calendar_id \
                            and event.data.get("transactionId") == txn:
                        return 201, self.view(event)  # Graph answers the first one again
            event = Event("AAMkEv" + secrets.token_urlsafe(24), calendar_id, data, 0, "")
            self._bump(event)
            self.events[event.id] = event
            return 201, self.view(event)

    def update(self, event_id: str, body: Any, if_match: str | None) -> dict[str, Any]:
        with self.lock:
            event = self.get(event_id)
            if if_match is not None and if_match not in ("*", f'W/"{event.change_key}"'):
                raise GraphError(412, "ErrorIrresolvableConflict", "The change key passed in "
                                 "the request does not match the current change key.")
            changes = self._validated(body, creating=False)
            if "transactionId" in changes:
                raise GraphError(400, "ErrorInvalidRequest", "transactionId is set on create")
            props = changes.pop("singleValueExtendedProperties", None)
            before = {o[0] for o in event.occurrences(*self._span(event))}
            event.data.update({k: v for k, v in changes.items()
                               if not (k == "recurrence" and v is None)})
            if "recurrence" in changes and changes["recurrence"] is None:
                event.data.pop("recurrence", None)
            self._check_series(event.data)
            event.former |= before - {o[0] for o in event.occurrences(*self._span(event))}
            if props is not None:
                kept = {p["id"]: p for p in event.data.get("singleValueExtendedProperties", [])}
                kept.update({p["id"]: p for p in props})
                event.data["singleValueExtendedProperties"] = list(kept.values())
            if event.end() < event.start():
                raise GraphError(400, "ErrorInvalidRequest", "end before start")
            self._bump(event)
            return self.view(event)

    def delete(self, event_id: str) -> None:
        with self.lock:
            event = self.get(event_id)
            event.deleted = True
            self._bump(event)

    def get(self, event_id: str) -> Event:
        event = self.events.get(event_id)
        if event is None or event.deleted:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in "
                             "the store.")
        return event

    def _validated(self, body: Any, *, creating: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        unknown = set(body) - ALLOWED
        if unknown:
            raise GraphError(400, "RequestBodyRead", f"unknown properties: {sorted(unknown)}")
        if creating and ("start" not in body or "end" not in body):
            raise GraphError(400, "ErrorInvalidRequest", "start and end are required")
        if "showAs" in body and body["showAs"] not in SHOW_AS:
            raise GraphError(400, "RequestBodyRead", "bad showAs")
        for key in ("start", "end"):
            if key in body:
                parse_graph_time(body[key])
        for prop in body.get("singleValueExtendedProperties", []):
            if not isinstance(prop, dict) or set(prop) != {"id", "value"} \
                    or not str(prop["id"]).startswith("String {") \
                    or not isinstance(prop["value"], str):
                raise GraphError(400, "ErrorInvalidExtendedPropertyValue",
                                 "bad singleValueExtendedProperty")
        data = copy.deepcopy(body)
        if creating and parse_graph_time(data["end"]) < parse_graph_time(data["start"]):
            raise GraphError(400, "ErrorInvalidRequest", "end before start")
        if creating:
            if data.get("recurrence") is None:
                data.pop("recurrence", None)
            self._check_series(data)
        return data

    @staticmethod
    def _check_series(data: dict[str, Any]) -> None:
        if data.get("recurrence") is not None:
            series.validate(data["recurrence"],
                            dt.date.fromisoformat(str(data["start"]["dateTime"])[:10]))

    @staticmethod
    def _span(event: Event) -> tuple[dt.datetime, dt.datetime]:
        """The range whose occurrences a change of series is compared over."""
        start = event.start()
        return start - dt.timedelta(days=1), start + dt.timedelta(days=3 * 366)

    # ------------------------------------------------------------------ reads

    def delta_start(self, calendar_id: str, start: dt.datetime, end: dt.datetime) -> str:
        with self.lock:
            self.calendar(calendar_id)
            return self._token(DeltaState(calendar_id, start, end, 0, self.seq, initial=True))

    def delta_page(self, token: str, *, skip: bool, size: int | None = None
                   ) -> tuple[list[dict[str, Any]], str, bool]:
        """(items, next token, is last): a skip token continues a read; a delta token starts
        the next one (changes since it). `size`: the client's odata.maxpagesize, honoured up
        to the mailbox's own limit."""
        limit = min(size, self.max_page_size) if size else self.page_size
        with self.lock:
            state = self.tokens.get(token)
            if state is None:
                raise GraphError(410, "SyncStateNotFound", "The sync state generation is not "
                                 "found or has expired. Please start a new sync with an initial "
                                 "request.")
            if not skip:  # a delta link: a new read of the changes since it
                state = DeltaState(state.calendar, state.start, state.end, state.upto, self.seq)
            chosen = sorted((e for e in self.events.values()
                             if e.calendar == state.calendar and state.since < e.seq <= state.upto
                             and not (state.initial and e.deleted)
                             and self._in_window(e, state)), key=lambda e: e.seq)
            entries = [entry for e in chosen for entry in self._entries(e, state)]
            items = entries[state.offset:state.offset + limit]
            last = state.offset + limit >= len(entries)
            if last:
                following = DeltaState(state.calendar, state.start, state.end, state.upto,
                                       state.upto)
            else:
                following = DeltaState(state.calendar, state.start, state.end, state.since,
                                       state.upto, state.offset + limit,
                                       state.initial)
            return items, self._token(following), last

    def _entries(self, event: Event, state: DeltaState) -> list[dict[str, Any]]:
        """What calendarView/delta lists for one changed event: the event, or a series'
        occurrences in the window (never the master), and removals."""
        removed = [] if state.initial else [{"id": gone, "@removed": {"reason": "deleted"}}
                                            for gone in sorted(event.former)]
        if not event.series:
            return removed + [{"id": event.id, "@removed": {"reason": "deleted"}}
                              if event.deleted else self.view(event)]
        found = event.occurrences(state.start, state.end)
        if event.deleted:
            return removed + [{"id": o, "@removed": {"reason": "deleted"}} for o, _, _ in found]
        return removed + [self.occurrence_view(event, o, begin, finish)
                          for o, begin, finish in found]

    @staticmethod
    def _in_window(event: Event, state: DeltaState) -> bool:
        if event.series:
            return bool(event.occurrences(state.start, state.end)) or bool(event.former)
        return event.start() < state.end and event.end() > state.start

    def _token(self, state: DeltaState) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = state
        return token

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def tagged(self, calendar_id: str, prop_id: str) -> list[dict[str, Any]]:
        """Events carrying the single-value extended property `prop_id` (any value), with it."""
        with self.lock:
            self.calendar(calendar_id)
            found = []
            for event in self.events.values():
                if event.deleted or event.calendar != calendar_id:
                    continue
                props = [p for p in event.data.get("singleValueExtendedProperties", [])
                         if p["id"].lower() == prop_id.lower()]
                if props:
                    found.append({"id": event.id, "@odata.etag": f'W/"{event.change_key}"',
                                  "singleValueExtendedProperties": props})
            return found

    def live(self, calendar_id: str) -> list[Event]:
        with self.lock:
            return [e for e in self.events.values()
                    if e.calendar == calendar_id and not e.deleted]
