"""Routing of the fake: OAuth endpoints, Calendar v3 methods, batch; faults and the request log."""

from __future__ import annotations

import json
import random
import re
import threading
import time
import traceback
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .google_batch import BatchRecord, format_batch, parse_batch
from .google_errors import ApiError, backend_error, bad_request, not_found
from .google_faults import Fault, FaultKind, FaultQueue, HoldList
from .google_oauth import READ_CALENDARS, READ_EVENTS, WRITE_EVENTS, OAuthServer, basic_auth
from .google_params import Params, apply_fields
from .google_push import PushHub
from .google_store import CalendarStore
from .google_wire import DropConnection, Request, Response

API = "/calendar/v3"
BATCH_PATHS = ("/batch/calendar/v3", "/batch")
Handler = Callable[[Request, str, Params, dict[str, str]], Response]


@dataclass(frozen=True)
class LoggedRequest:
    seq: int
    method: str
    path: str  # decoded
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any  # JSON value, form dict, text or None
    endpoint: str  # "calendar.events.insert", "oauth.token", "batch", ...
    status: int | None  # None: the connection was dropped
    batch: int | None  # index into FakeGoogle.batches for the parts of a batch
    fault: str | None  # the FaultKind value injected into this request
    at: float = field(default_factory=time.monotonic)  # when it was answered (monotonic clock)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def add(self, req: Request, endpoint: str, status: int | None, fault: Fault | None) -> None:
        with self._lock:
            self._entries.append(LoggedRequest(
                len(self._entries) + 1, req.method, urllib.parse.unquote(req.path), req.query, dict(req.headers),
                _decoded_body(req), endpoint, status, req.batch, fault.kind.value if fault else None))

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def counts(self) -> Counter[str]:
        return Counter(entry.endpoint for entry in self.entries())


def _decoded_body(req: Request) -> Any:
    if not req.body:
        return None
    content_type = req.header("content-type") or ""
    text = req.body.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if "x-www-form-urlencoded" in content_type:
        return urllib.parse.parse_qs(text, keep_blank_values=True)
    return text


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    endpoint: str
    scopes: frozenset[str]
    handler: Handler


class HeldDropped(DropConnection):
    """A held request (see Hold), dropped when released; in a batch, the rest of it too."""


class App:
    def __init__(self, *, store: CalendarStore, oauth: OAuthServer, push: PushHub, faults: FaultQueue,
                 rng: random.Random, stop: threading.Event, base_url: Callable[[], str]) -> None:
        self.store, self.oauth, self.push, self.faults = store, oauth, push, faults
        self.rng, self.stop, self.base_url = rng, stop, base_url
        self.log = RequestLog()
        self.holds = HoldList()
        self.batches: list[BatchRecord] = []
        self.internal_errors: list[str] = []
        self._batch_lock = threading.Lock()
        self.routes = self._routes()

    # -------------------------------------------------------------- dispatch

    def handle(self, req: Request) -> Response:
        endpoint, run = self._resolve(req)
        hold = self.holds.take(endpoint)
        if hold is not None:  # never performed; the client is expected to be gone by then
            while not hold.released.wait(0.05) and not self.stop.is_set():
                pass
            self.log.add(req, endpoint, None, None)
            raise HeldDropped()
        fault = self.faults.take(req.method, urllib.parse.unquote(req.path), endpoint)
        try:
            response = self._faulty(fault, run) if fault is not None else run()
        except DropConnection:
            self.log.add(req, endpoint, None, fault)
            raise
        self.log.add(req, endpoint, response.status, fault)
        return response

    def _faulty(self, fault: Fault, run: Callable[[], Response]) -> Response:
        if fault.kind is FaultKind.TIMEOUT:
            response = run() if fault.perform else Response.api_error(fault.error())
            self.stop.wait(fault.delay)  # the deliberate delay: the client gives up before it ends
            return response
        if fault.kind is FaultKind.LOST_RESPONSE:
            run()
            raise DropConnection()
        if fault.kind is FaultKind.LOST_RESPONSE_500:
            run()
            return Response.api_error(backend_error(500))
        return Response.api_error(fault.error())

    def _safe(self, run: Callable[[], Response]) -> Callable[[], Response]:
        def wrapped() -> Response:
            try:
                return run()
            except ApiError as error:
                return Response.api_error(error)
            except DropConnection:
                raise
            except Exception:  # a bug in the fake: answer 500 and keep it for the test to see
                self.internal_errors.append(traceback.format_exc())
                return Response.api_error(backend_error(500))
        return wrapped

    def _resolve(self, req: Request) -> tuple[str, Callable[[], Response]]:
        path, method = req.path, req.method
        if path in ("/o/oauth2/auth", "/o/oauth2/v2/auth") and method == "GET":
            return "oauth.authorize", self._safe(lambda: self.oauth.authorize(req.query))
        if path in ("/token", "/o/oauth2/token", "/oauth2/v4/token") and method == "POST":
            return "oauth.token", self._safe(lambda: self._token(req))
        if path in ("/revoke", "/o/oauth2/revoke") and method in ("POST", "GET"):
            return "oauth.revoke", self._safe(lambda: self._revoke(req))
        if path in ("/oauth2/v2/userinfo", "/oauth2/v3/userinfo") and method == "GET":
            return "oauth.userinfo", self._safe(lambda: self._userinfo(req))
        if path in BATCH_PATHS:
            if method != "POST" or req.batch is not None:
                return "batch", self._safe(lambda: Response.api_error(not_found()))
            return "batch", self._safe(lambda: self._batch(req))
        if path.startswith(API + "/"):
            rest = path[len(API):]
            for route in self.routes:
                match = route.pattern.fullmatch(rest)
                if match and route.method == method:
                    groups = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                    return route.endpoint, self._safe(lambda: self._api(req, route, groups))
        return "unknown", self._safe(lambda: Response.api_error(not_found()))

    # ----------------------------------------------------------------- OAuth

    def _token(self, req: Request) -> Response:
        content_type = (req.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return Response.json(400, {"error": "invalid_request",
                                       "error_description": "Content-Type must be application/x-www-form-urlencoded"})
        return self.oauth.token(req.form(), basic_auth(req.header("authorization")))

    def _revoke(self, req: Request) -> Response:
        values = req.query.get("token") or req.form().get("token") or []
        token = values[0] if values else None
        return self.oauth.revoke(token)

    def _userinfo(self, req: Request) -> Response:
        grant = self.oauth.check_access(req.header("authorization"), Params(req.query).value("access_token"))
        if not {"email", "https://www.googleapis.com/auth/userinfo.email", "openid"} & set(grant.scopes):
            raise ApiError(401, "authError", "Request is missing required authentication credential.")
        return Response.json(200, {"id": str(abs(hash(grant.user)) % 10**21), "email": grant.user,
                                   "verified_email": True})

    # ---------------------------------------------------------------- batch

    def _batch(self, outer: Request) -> Response:
        with self._batch_lock:
            parts = parse_batch(outer, len(self.batches))  # a rejected batch gets no record
            index = len(self.batches)
            ids = [part.content_id or f"<{n}>" for n, part in enumerate(parts, 1)]
            order = list(range(len(parts)))
            self.rng.shuffle(order)
            record = BatchRecord(index, ids, [ids[i] for i in order], {})
            self.batches.append(record)
        answers: list[tuple[str | None, Response]] = []
        held = False
        for i in order:
            part = parts[i]
            if held:  # a part was held and its client is gone: the rest is never performed
                response = Response.api_error(backend_error(500))
            elif not part.request.path.startswith(API + "/"):
                response = Response.api_error(not_found())
            else:
                try:
                    response = self.handle(part.request)
                except HeldDropped:
                    held = True
                    response = Response.api_error(backend_error(500))
                except DropConnection:  # a lost part: the batch still answers, with 500 for it
                    response = Response.api_error(backend_error(500))
            record.statuses[ids[i]] = response.status
            answers.append((ids[i], response))
        return format_batch(answers)

    # ------------------------------------------------------------------ API

    def _api(self, req: Request, route: Route, groups: dict[str, str]) -> Response:
        params = Params(req.query)
        grant = self.oauth.check_access(req.header("authorization"), params.value("access_token"))
        self.oauth.require(grant, route.scopes)
        response = route.handler(req, grant.user, params, groups)
        if response.status == 200 and params.value("fields"):
            payload = apply_fields(json.loads(response.body), params.value("fields"))
            response = Response.json(200, payload, {k: v for k, v in response.headers.items()
                                                    if k != "Content-Type"})
        return response

    def _routes(self) -> list[Route]:
        cal, ev = r"/calendars/(?P<cal>[^/]+)", r"/events/(?P<event>[^/]+)"
        table: list[tuple[str, str, str, frozenset[str], Handler]] = [
            ("GET", r"/users/me/calendarList", "calendarList.list", READ_CALENDARS, self._calendar_list),
            ("GET", r"/users/me/calendarList/(?P<cal>[^/]+)", "calendarList.get", READ_CALENDARS,
             self._calendar_entry),
            ("GET", cal, "calendars.get", READ_CALENDARS | READ_EVENTS, self._calendar_get),
            ("GET", cal + r"/events", "events.list", READ_EVENTS, self._list),
            ("POST", cal + r"/events", "events.insert", WRITE_EVENTS, self._insert),
            ("POST", cal + r"/events/watch", "events.watch", READ_EVENTS, self._watch),
            ("GET", cal + ev, "events.get", READ_EVENTS, self._get),
            ("GET", cal + ev + r"/instances", "events.instances", READ_EVENTS, self._instances),
            ("PUT", cal + ev, "events.update", WRITE_EVENTS, self._update),
            ("PATCH", cal + ev, "events.patch", WRITE_EVENTS, self._patch),
            ("DELETE", cal + ev, "events.delete", WRITE_EVENTS, self._delete),
            ("POST", r"/channels/stop", "channels.stop", READ_EVENTS | READ_CALENDARS, self._stop_channel),
        ]
        return [Route(m, re.compile(p), "calendar." + e, s, h) for m, p, e, s, h in table]

    def _calendar_list(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        return Response.json(200, self.store.calendar_list(user, params))

    def _calendar_entry(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        return Response.json(200, self.store.calendar_entry(user, g["cal"]))

    def _calendar_get(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        return Response.json(200, self.store.calendar_resource(user, g["cal"]))

    def _list(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        return Response.json(200, self.store.list_events(user, g["cal"], params))

    def _instances(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        return Response.json(200, self.store.instances(user, g["cal"], g["event"], params))

    def _get(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        event = self.store.get_event(user, g["cal"], g["event"], params)
        if req.header("if-none-match") == event["etag"]:
            return Response(304, b"", {"ETag": event["etag"]})
        return Response.json(200, event, {"ETag": event["etag"]})

    @staticmethod
    def _write_params(params: Params) -> None:
        params.enum("sendUpdates", ("all", "externalOnly", "none"))
        params.flag("sendNotifications")
        params.flag("supportsAttachments")
        if params.has("conferenceDataVersion") and params.integer("conferenceDataVersion", 0, minimum=0) > 1:
            raise bad_request("Invalid conference data version.", location="conferenceDataVersion")
        if params.has("maxAttendees"):
            params.integer("maxAttendees", 0, minimum=1)

    def _insert(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        self._write_params(params)
        event = self.store.insert_event(user, g["cal"], req.json())
        return Response.json(200, event, {"ETag": event["etag"]})

    def _modify(self, req: Request, user: str, params: Params, g: dict[str, str], replace: bool) -> Response:
        self._write_params(params)
        event = self.store.modify_event(user, g["cal"], g["event"], req.json(), replace=replace,
                                        if_match=req.header("if-match"))
        return Response.json(200, event, {"ETag": event["etag"]})

    def _update(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        return self._modify(req, user, params, g, replace=True)

    def _patch(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        return self._modify(req, user, params, g, replace=False)

    def _delete(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        self._write_params(params)
        self.store.delete_event(user, g["cal"], g["event"], if_match=req.header("if-match"))
        return Response(204)

    def _watch(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        calendar = self.store.calendar(user, g["cal"])
        uri = f"{self.base_url()}{API}/calendars/{urllib.parse.quote(calendar.info.id, safe='')}/events?alt=json"
        return Response.json(200, self.push.watch(calendar.info.id, req.json(), uri))

    def _stop_channel(self, req: Request, user: str, params: Params, g: dict[str, str]) -> Response:
        self.push.stop(req.json())
        return Response(204)
