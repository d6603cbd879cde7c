"""``FakeMicrosoft``: a strict fake Microsoft Graph (v1.0, calendar part) and identity platform
on 127.0.0.1 (HTTPS, a self-signed certificate: `ca_file`), in a thread, for one mailbox (more
with `add_user`: each request is served from the mailbox of its access token's user):

    with FakeMicrosoft() as fake:
        fake.authority        # "https://127.0.0.1:PORT/common" (token: {authority}/oauth2/v2.0/token)
        fake.graph            # "https://127.0.0.1:PORT/v1.0"
        fake.identity.issue_refresh_token()

Strict where it matters: bearer tokens, unknown event properties refused, calendarView/delta
paging with opaque skip/delta tokens (expired -> 410 SyncStateNotFound), transactionId dedup,
If-Match -> 412, single-value extended properties and the one `$filter` shape on them we use,
`$batch` (at most 20 parts; per-part faults), 429 with Retry-After. `fail()` queues faults;
`log` keeps every request (batch parts included) for the tests' marker scans."""

from __future__ import annotations

import datetime as dt
import fnmatch
import html
import json
import re
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from .google_faults import Hold, HoldList
from .google_http import FakeHTTPServer
from .google_wire import DropConnection, Request, Response
from .microsoft_errors import GraphError, IdentityError
from .microsoft_identity import Identity
from .microsoft_store import Mailbox
from .microsoft_subscriptions import Subscriptions
from .microsoft_tls import certificate, server_context

BATCH_LIMIT = 20
FILTER = re.compile(r"^singleValueExtendedProperties/any\(ep: ep/id eq '([^']+)' and "
                    r"ep/value ne null\)$")


@dataclass
class Fault:
    status: int
    path: str  # glob on "METHOD /path" (batch parts too)
    retry_after: int | None = None
    times: int = 1
    lost: bool = False  # the request is performed, then its answer is lost (a 504)


@dataclass
class Logged:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    status: int
    batch_part: bool = False
    at: float = field(default_factory=time.monotonic)
    user: str = ""  # whose mailbox answered (a Graph request with a valid token)


@dataclass
class FakeMicrosoft:
    user: str = "anna@contoso.example"
    client_id: str = "00000000-0000-0000-0000-00000000fake"
    client_secret: str = "fake~client~secret"
    tenant: str = "common"
    identity: Identity = field(init=False)
    mailbox: Mailbox = field(init=False)  # `user`'s
    mailboxes: dict[str, Mailbox] = field(init=False)  # user -> their mailbox
    log: list[Logged] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    max_concurrent: int = 0
    _running: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.identity = Identity(self.client_id, self.client_secret, self.user)
        self.mailbox = Mailbox(self.user)
        self.mailboxes = {self.user: self.mailbox}
        # Subscriptions' expiry is judged on this clock (tests set their runtime's).
        self.now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)
        self.subscriptions = Subscriptions(lambda: self.now())
        self.holds = HoldList()
        self._server: FakeHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> FakeMicrosoft:
        self._server = FakeHTTPServer(self)
        self._server.socket = server_context().wrap_socket(self._server.socket,
                                                           server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_file(self) -> str:
        """The certificate clients must trust (`microsoft.ca_file`)."""
        return str(certificate()[0])

    @property
    def authority(self) -> str:
        return f"{self.url}/{self.tenant}"

    @property
    def graph(self) -> str:
        return f"{self.url}/v1.0"

    # ------------------------------------------------------------------ test controls

    def fail(self, status: int, path: str = "*", *, times: int = 1,
             retry_after: int | None = None, lost: bool = False) -> None:
        """The next `times` requests matching `path` ("PATCH /v1.0/me/events/*") fail; with
        `lost`, each is performed first and only its answer fails (504)."""
        with self._lock:
            self.faults.append(Fault(status, path, retry_after, times, lost))

    def hold(self, endpoint: str, *, after: int) -> Hold:
        """Let `after` more requests to `endpoint` through ("events.create": an event created
        in a calendar, batch parts one by one), then hold the next one unperformed until
        `release_holds`, which drops its whole request unanswered: a client killed while
        Graph was taking its writes. `hold.reached` tells when it was held."""
        return self.holds.add(Hold(endpoint, after))

    def release_holds(self) -> None:
        self.holds.release()

    def _held(self, method: str, path: str) -> None:
        parts = path.split("/")
        if method == "POST" and len(parts) == 6 and parts[1:4] == ["v1.0", "me", "calendars"] \
                and parts[5] == "events":
            hold = self.holds.take("events.create")
            if hold is not None:
                hold.released.wait(120)
                raise DropConnection()

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def requests(self, pattern: str = "*") -> list[Logged]:
        with self._lock:
            return [r for r in self.log if fnmatch.fnmatchcase(f"{r.method} {r.path}", pattern)]

    def user_add(self, calendar: str, body: dict[str, Any], user: str | None = None) -> str:
        """The mailbox's owner (`user`, default the first) adds an event in Outlook."""
        return str(self.mailboxes[user or self.user].create(calendar, body)[1]["id"])

    def add_user(self, user: str) -> Mailbox:
        """Another account with its own mailbox (its default calendar "AAMkCalendar"); a
        refresh token of it: `identity.issue_refresh_token(user)`."""
        with self._lock:
            if user in self.mailboxes:
                raise ValueError(f"{user} has a mailbox already")
            self.mailboxes[user] = box = Mailbox(user)
        return box

    def add_calendar(self, user: str, calendar_id: str, name: str) -> str:
        """Another calendar in `user`'s mailbox."""
        box = self.mailboxes[user]
        with box.lock:
            box.calendars[calendar_id] = name
        return calendar_id

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    # ------------------------------------------------------------------ dispatch

    def handle(self, req: Request) -> Response:
        with self._lock:
            self._running += 1
            self.max_concurrent = max(self.max_concurrent, self._running)
        try:
            response = self._answer(req, req.path, req.query, req.body, req.headers)
        finally:
            with self._lock:
                self._running -= 1
        self._record(req.method, req.path, urllib.parse.urlencode(req.query, doseq=True),
                     req.headers, req.body.decode("utf-8", "replace"), response.status,
                     user=self.identity.user_of(req.headers.get("authorization")) or "")
        return response

    def _record(self, method: str, path: str, query: str, headers: dict[str, str], body: str,
                status: int, part: bool = False, user: str = "") -> None:
        shown = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        with self._lock:
            self.log.append(Logged(method, path, query, shown, body, status, part, user=user))

    def _fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fnmatch.fnmatchcase(f"{method} {path}", fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _answer(self, req: Request, path: str, query: dict[str, list[str]], body: bytes,
                headers: dict[str, str]) -> Response:
        try:
            if path.startswith(f"/{self.tenant}/oauth2/v2.0/"):
                return self._identity(req, path[len(self.tenant) + 1:])
            if path == f"/{self.tenant}/v2.0/.well-known/openid-configuration":
                return Response.json(200, self.discovery())
            fault = self._fault(req.method, path)
            if fault is not None and not fault.lost:
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                code = {429: "TooManyRequests", 503: "ServiceUnavailable",
                        504: "GatewayTimeout"}.get(fault.status, "Fault")
                raise GraphError(fault.status, code, "injected", extra)
            user = self.identity.user_of(headers.get("authorization"))
            if user is None:
                raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty or "
                                 "invalid.")
            box = self.mailboxes[user]
            if path == "/v1.0/$batch" and req.method == "POST":
                answer = self._batch(req, box)
            else:
                status, payload, extra = self._graph(req.method, path, query, body, headers,
                                                     box)
                answer = Response(status, b"", extra) if payload is None else \
                    Response.json(status, payload, extra)
            if fault is not None:  # lost: done, but the client never hears of it
                raise GraphError(504, "GatewayTimeout", "the answer was lost")
            return answer
        except GraphError as error:
            return Response.json(error.status, error.body(), error.headers)
        except DropConnection:
            raise
        except IdentityError as error:
            return Response.json(error.status, error.body(), {"Cache-Control": "no-store"})
        except Exception:  # a bug of the fake: 500, kept for the test to see
            self.internal_errors.append(traceback.format_exc())
            return Response.json(500, {"error": {"code": "InternalServerError",
                                                 "message": "fake bug"}})

    def discovery(self) -> dict[str, Any]:
        """The OpenID configuration MSAL reads before its first request."""
        return {"authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
                "token_endpoint": f"{self.authority}/oauth2/v2.0/token",
                "issuer": f"{self.url}/{{tenantid}}/v2.0",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"]}

    def _identity(self, req: Request, endpoint: str) -> Response:
        if endpoint == "/oauth2/v2.0/authorize" and req.method == "GET":
            where, fields = self.identity.authorize(req.query)
            if req.query.get("response_mode") == ["form_post"]:
                inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" '
                                 f'value="{html.escape(v)}">' for k, v in fields.items())
                page = (f'<html><body onload="document.forms[0].submit()"><form method="post" '
                        f'action="{html.escape(where)}">{inputs}</form></body></html>')
                return Response(200, page.encode(), {"Content-Type": "text/html"})
            return Response.redirect(where + "?" + urllib.parse.urlencode(fields))
        if endpoint == "/oauth2/v2.0/token" and req.method == "POST":
            return Response.json(200, self.identity.token(req.form()),
                                 {"Cache-Control": "no-store"})
        raise GraphError(404, "NotFound", "no such identity endpoint")

    def _batch(self, req: Request, box: Mailbox) -> Response:
        payload = req.json()
        parts = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(parts, list) or not parts:
            raise GraphError(400, "BadRequest", "requests expected")
        if len(parts) > BATCH_LIMIT:
            raise GraphError(400, "BadRequest", "The number of batch requests in the payload "
                             "exceeds the maximum of 20.")
        if len({p.get("id") for p in parts}) != len(parts):
            raise GraphError(400, "BadRequest", "batch request ids must be unique")
        answers: dict[str, dict[str, Any]] = {}
        for part in parts:
            answers[str(part["id"])] = self._part(part, answers, box)
        return Response.json(200, {"responses": list(answers.values())})

    def _part(self, part: dict[str, Any], done: dict[str, dict[str, Any]],
              box: Mailbox) -> dict[str, Any]:
        pid, method, url = str(part.get("id")), str(part.get("method")), str(part.get("url"))
        headers = {k.lower(): str(v) for k, v in (part.get("headers") or {}).items()}
        body = json.dumps(part["body"]).encode() if "body" in part else b""
        if not url.startswith("/"):
            raise GraphError(400, "BadRequest", "batch urls are relative and start with /")
        path, query = Request.parse_target("/v1.0" + url)
        status: int
        result: Any
        extra: dict[str, str] = {}
        if any(done.get(str(d), {}).get("status", 200) >= 400 for d in part.get("dependsOn", [])):
            status, result = 424, GraphError(424, "FailedDependency", "dependency failed").body()
        else:
            fault = self._fault(method, path)
            try:
                if fault is not None and not fault.lost:
                    extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                    raise GraphError(fault.status, "TooManyRequests" if fault.status == 429
                                     else "ServiceUnavailable", "injected", extra)
                self._held(method, path)
                status, result, extra = self._graph(method, path, query, body, headers, box)
                if fault is not None:  # lost: done, the part's answer is a failure
                    raise GraphError(503, "ServiceUnavailable", "the answer was lost")
            except GraphError as error:
                status, result, extra = error.status, error.body(), error.headers
        self._record(method, path, urllib.parse.urlencode(query, doseq=True), headers,
                     body.decode(), status, True, user=box.user)
        answer: dict[str, Any] = {"id": pid, "status": status, "headers": extra}
        if result is not None:
            answer["body"] = result
        return answer

    # ------------------------------------------------------------------ Graph

    def _graph(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str], box: Mailbox) -> tuple[int, Any, dict[str, str]]:
        parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
        one = {k: v[0] for k, v in query.items()}
        if parts == ["v1.0", "me"] and method == "GET":
            return 200, {"id": f"fake-user-id-{box.user}" if box is not self.mailbox
                         else "fake-user-id", "mail": box.user,
                         "userPrincipalName": box.user}, {}
        if parts == ["v1.0", "me", "calendars"] and method == "GET":
            return 200, self._calendars(one, box), {}
        if len(parts) == 6 and parts[:3] == ["v1.0", "me", "calendars"] \
                and parts[4:] == ["calendarView", "delta"] and method == "GET":
            return 200, self._delta(parts[3], one, headers, box), {}
        if len(parts) == 5 and parts[:3] == ["v1.0", "me", "calendars"] and parts[4] == "events":
            if method == "POST":
                status, event = box.create(parts[3], json.loads(body or b"null"))
                return status, event, {}
            if method == "GET":
                return 200, self._tagged(parts[3], one, box), {}
        if parts == ["v1.0", "subscriptions"] and method == "POST":
            return 201, self.subscriptions.create(json.loads(body or b"null")), {}
        if len(parts) == 3 and parts[:2] == ["v1.0", "subscriptions"]:
            if method == "PATCH":
                return 200, self.subscriptions.renew(parts[2], json.loads(body or b"null")), {}
            if method == "DELETE":
                self.subscriptions.delete(parts[2])
                return 204, None, {}
        if len(parts) == 4 and parts[:3] == ["v1.0", "me", "events"]:
            if method == "GET":
                return 200, box.view(box.get(parts[3])), {}
            if method == "PATCH":
                return 200, box.update(parts[3], json.loads(body or b"null"),
                                       headers.get("if-match")), {}
            if method == "DELETE":
                box.delete(parts[3])
                return 204, None, {}
        raise GraphError(400, "BadRequest", f"Unsupported request: {method} {path}")

    def _delta(self, calendar: str, one: dict[str, str], headers: dict[str, str],
               box: Mailbox) -> dict[str, Any]:
        if "$deltatoken" in one or "$skiptoken" in one:
            skip = "$skiptoken" in one
            token = one["$skiptoken"] if skip else one["$deltatoken"]
            if set(one) - {"$skiptoken", "$deltatoken"}:
                raise GraphError(400, "BadRequest", "a delta/skip link is followed as given")
        else:
            if set(one) != {"startDateTime", "endDateTime"}:
                raise GraphError(400, "ErrorInvalidParameter", "calendarView/delta needs "
                                 "startDateTime and endDateTime, and nothing else")
            try:
                start = dt.datetime.fromisoformat(one["startDateTime"].replace("Z", "+00:00"))
                end = dt.datetime.fromisoformat(one["endDateTime"].replace("Z", "+00:00"))
            except ValueError:
                raise GraphError(400, "ErrorInvalidParameter", "bad window") from None
            if start.tzinfo is None or end <= start:
                raise GraphError(400, "ErrorInvalidParameter", "bad window")
            token, skip = box.delta_start(calendar, start, end), True
        prefer = headers.get("prefer", "")
        if prefer and not re.fullmatch(r"odata\.maxpagesize=\d+", prefer.strip()):
            raise GraphError(400, "BadRequest", "unexpected Prefer")
        size = int(prefer.strip().split("=")[1]) if prefer else None
        items, following, last = box.delta_page(token, skip=skip, size=size)
        link = f"{self.graph}/me/calendars/{urllib.parse.quote(calendar)}/calendarView/delta?"
        answer: dict[str, Any] = {"value": items}
        if last:
            answer["@odata.deltaLink"] = link + urllib.parse.urlencode({"$deltatoken": following})
        else:
            answer["@odata.nextLink"] = link + urllib.parse.urlencode({"$skiptoken": following})
        return answer

    def _calendars(self, one: dict[str, str], box: Mailbox) -> dict[str, Any]:
        """GET /me/calendars: $select of known properties and $top (1..999) only."""
        known = {"id", "name", "canEdit", "isDefaultCalendar", "owner", "color"}
        if set(one) - {"$select", "$top"}:
            raise GraphError(400, "BadRequest", "unsupported query option")
        chosen = set(one.get("$select", ",".join(sorted(known))).split(","))
        if chosen - known:
            raise GraphError(400, "BadRequest", f"Could not find a property named "
                             f"'{sorted(chosen - known)[0]}'")
        top = one.get("$top", "10")
        if not top.isdigit() or not 1 <= int(top) <= 999:
            raise GraphError(400, "BadRequest", "$top must be between 1 and 999")
        default = next(iter(box.calendars), None)
        found = [{"id": cid, "name": name, "canEdit": True, "isDefaultCalendar": cid == default,
                  "owner": {"address": box.user}, "color": "auto"}
                 for cid, name in box.calendars.items()][:int(top)]
        return {"value": [{k: v for k, v in c.items() if k in chosen} for c in found]}

    def _tagged(self, calendar: str, one: dict[str, str], box: Mailbox) -> dict[str, Any]:
        match = FILTER.match(one.get("$filter", ""))
        expand = f"singleValueExtendedProperties($filter=id eq '{match.group(1)}')" \
            if match else None
        if match is None or one.get("$expand") != expand or one.get("$select") != "id" \
                or set(one) != {"$filter", "$expand", "$select"}:
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", "unsupported query")
        return {"value": box.tagged(calendar, match.group(1))}
