"""CalDAV for private links: Radicale mounted under /dav/ (below public_url's path), behind
shields it lacks. A link is a principal whose home lists the calendars in its scope, read-only,
each rendered through the link's profile.

Before Radicale sees a request, this mount:
- answers /.well-known/caldav with a redirect to the CalDAV root;
- refuses unknown, revoked and expired tokens itself (401; Radicale's failed login would sleep
  in a worker thread), unknown ones rate-limited per address like feeds, and a user name other
  than the token's own `link-<id>` with the same 401;
- bounds the body (413) and reads it, and answers malformed or hostile XML (entities, deep
  nesting) and well-formed bodies Radicale would fail on (server/publishing/dav_bodies.py) with 400
  instead of Radicale's 500;
- turns any exception inside Radicale, and any 5xx it makes itself, into the incident-id 500
  of our error handler (Radicale's own handler would log the path and a traceback);
- takes the URL prefix from our configuration only: X-Script-Name and X-Forwarded-* are removed;
- hides Radicale's internal pages (/.web, /.sharing, ...) and GET with a query string;
- decodes the path as UTF-8 (WSGI hands it over as Latin-1; bytes that are not UTF-8 name
  nothing of ours);
- answers paths that cannot name one of a read-only link's resources (a space, a non-ASCII
  character) 404 (reads) or 403 (writes) itself, as stock Radicale would; on a writable account
  any printable name is served (its phone names what it makes), and a hostile one (a control
  character, a slash, too long: server/domain/resource_names.py) is a 400 with the reason;
- sets the request context (the link, its calendars, one database session) for our plugins and
  always clears it.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import defusedxml.ElementTree as SafeET
import radicale
import radicale.config
from defusedxml import DefusedXmlException
from radicale.item import filter as radicale_filter

from server.publishing import dav_bodies

from server.publishing import dav_write
from server.web import incidents
from server.publishing.dav_context import CURRENT, DavRequest
from server.publishing.dav_context import lookup as dav_lookup
from server.publishing.davfast.engine import FastPath
from server.publishing.davfast.plan import decide
from server.publishing.davfast.quickget import QuickGet
from server.domain import links, resource_names
from server.db.engine import translate_errors
from server.errors import BookingCalError
from server.publishing.linkurls import DAV_PATH, principal_name, user_matches
from server.publishing.link_views import link_view
from server.publishing.publish import Publisher
from server.runtime import Runtime
from server.web.middleware import ROUTE_KEY, WSGIApp
from server.web.ratelimit import FailureLimiter

log = logging.getLogger(__name__)
MAX_XML_DEPTH = 32
CALDAV_NS = "urn:ietf:params:xml:ns:caldav"
METHODS = {"OPTIONS", "PROPFIND", "REPORT", "GET", "HEAD",
           # Writes of a writable link go to server/publishing/dav_write.py; any other link's reach
           # Radicale only to be refused (403) by the rights plugin.
           "PUT", "DELETE", "MKCALENDAR", "MKCOL", "PROPPATCH", "MOVE", "COPY", "POST"}
XML_METHODS = {"PROPFIND", "REPORT", "PROPPATCH", "MKCALENDAR", "MKCOL"}
STRIPPED = ("HTTP_X_SCRIPT_NAME", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST",
            "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_SERVER", "HTTP_X_FORWARDED_PORT",
            "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED", "HTTP_X_REMOTE_ADDR",
            "HTTP_X_REMOTE_USER", "REMOTE_USER")
REALM = "bookingcal"
# Every name below /dav/ that we hand out (link-<id>, calendar slugs, <uuid>.ics) is made of
# these; Radicale's strict check (the same set) would answer anything else 400.
PATH_CHARACTERS = re.compile(r"[A-Za-z0-9@.\-_/~]*")
READS = {"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"}
NOT_UTF8 = "bookingcal.path_not_utf8"  # environ key: the path's bytes are not UTF-8


class RadicaleFailure(BaseException):
    """An exception raised inside one of Radicale's method handlers, carried past Radicale's own
    `except Exception` (which would log the request path and a traceback to the root logger and
    answer its own 500 page) to the mount, which answers an incident-id 500 instead. A
    BaseException so that Radicale's handlers let it pass; its `with` blocks still unwind."""

    def __init__(self, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.error = error


def _carried(handler: Callable[..., Any]) -> Callable[..., Any]:
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return handler(self, *args, **kwargs)
        except Exception as exc:
            raise RadicaleFailure(exc) from exc
    return run


class RadicaleStatusError(Exception):
    """Radicale answered a 5xx of its own making."""


class GuardedRadicale(radicale.Application):
    """Radicale whose method handlers (do_GET, do_PROPFIND, ...) let their exceptions out."""


for _name in dir(radicale.Application):
    if _name.startswith("do_"):
        setattr(GuardedRadicale, _name, _carried(getattr(radicale.Application, _name)))


def make_radicale(max_body: int) -> radicale.Application:
    configuration = radicale.config.load()  # built-in defaults only, no files
    configuration.update({
        "server": {"max_content_length": str(max_body), "delay_on_error": "0",
                   "max_resource_size": str(max_body * 4 // 5),
                   # Paths are checked by the mount before Radicale sees them: the names our
                   # read-only links hand out (PATH_CHARACTERS), and on a writable account any
                   # printable name (server/domain/resource_names.py).
                   "validate_user_value": "strict", "validate_path_value": "none"},
        "auth": {"type": "server.plugins.auth", "delay": "0", "realm": REALM,
                 "cache_logins": "false"},
        "rights": {"type": "server.plugins.rights"},
        "storage": {"type": "server.plugins.storage"},
        "web": {"type": "none"},
        "sharing": {"type": "none"},
        "hook": {"type": "none"},
        "reporting": {"max_expand_occurrence": "2000", "max_freebusy_occurrence": "2000"},
        "logging": {"mask_passwords": "true", "request_content_on_debug": "false",
                    "response_content_on_debug": "false"},
    }, "bookingcal", privileged=True)
    # Radicale's own lines name request paths and user names and quote parser messages with
    # the client's raw input; the mount logs what an admin needs (incidents) without them.
    logging.getLogger("radicale").setLevel(logging.CRITICAL + 1)
    return GuardedRadicale(configuration)


def _xml_depth(root: ET.Element, limit: int) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack and deepest <= limit:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in element)
    return deepest


def _report_range(root: ET.Element) -> tuple[tuple[int, int] | None, bool]:
    """(time range, expand?) of a calendar-query, read before Radicale drops the range."""
    if root.tag != f"{{{CALDAV_NS}}}calendar-query":
        return None, False
    expand = root.find(f".//{{{CALDAV_NS}}}expand") is not None
    for element in root.iterfind(f".//{{{CALDAV_NS}}}filter//{{{CALDAV_NS}}}time-range"):
        return radicale_filter.time_range_timestamps(element), expand
    return None, expand


def _basic_credentials(header: str) -> tuple[bytes, str] | None:
    """(user name as sent, token) of a Basic header, or None. The user name stays bytes:
    clients encode it variously, and ours (`link-<id>`) is ASCII anyway."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
        user, _, password = raw.partition(b":")
        token = password.decode("ascii")
    except (ValueError, UnicodeDecodeError):  # binascii.Error, or non-ASCII in the header
        return None
    return (user, token) if token else None


@dataclass
class _After:
    """Writes a CalDAV request makes once its reading transaction has ended: the texts its
    publisher rendered (server/publishing/text_spool.py) and the link's last use. A request
    never holds a second database connection with its reading one (behind a transaction
    pooler, as many such requests as server connections would each wait for another)."""

    publishers: list[Publisher] = field(default_factory=list)
    touch: tuple[int, int, dt.datetime] | None = None

    def run(self, runtime: Runtime) -> None:
        if self.touch is not None:
            try:
                with runtime.db.write() as writer:
                    links.touch(writer, *self.touch)
            except BookingCalError as exc:  # the answer stands; the next request touches it
                log.info("link's last use not recorded this time: %s", type(exc).__name__)
        for publisher in self.publishers:
            publisher.save(runtime.db)

    def discard(self) -> None:
        for publisher in self.publishers:
            publisher.discard()


class DavMount:
    def __init__(self, app: WSGIApp, runtime: Runtime, limiter: FailureLimiter) -> None:
        self.app = app
        self.runtime = runtime
        self.limiter = limiter
        self.radicale = make_radicale(runtime.config.max_body_bytes)
        self.fast = FastPath(self.radicale)
        self.quick_get = QuickGet(runtime.db, runtime.keyring)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") in ("/.well-known/caldav", "/.well-known/carddav"):
            environ[ROUTE_KEY] = "/.well-known/caldav"
            return self._plain(start_response, "301 Moved Permanently", b"",
                               [("Location", self.runtime.config.public_link(DAV_PATH + "/"))])
        if path != DAV_PATH and not path.startswith(DAV_PATH + "/"):
            return self.app(environ, start_response)
        environ[ROUTE_KEY] = DAV_PATH + "/<path>"
        sub_path = path[len(DAV_PATH):] or "/"
        try:
            # WSGI hands the percent-decoded path over as Latin-1 (PEP 3333); URLs carry
            # UTF-8 (RFC 3986), which is what Radicale and our names expect.
            sub_path = sub_path.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            pass  # a server that decoded it already
        except UnicodeDecodeError:
            # No name of ours; a read-only link answers it as a missing resource, a writable
            # account's phone is told why (_serve).
            environ[NOT_UTF8] = True
        return self._dav(environ, start_response, sub_path)

    @staticmethod
    def _plain(start_response: Callable[..., Any], status: str, body: bytes,
               headers: list[tuple[str, str]] | None = None) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(body))), *(headers or [])])
        return [body]

    def _challenge(self, start_response: Callable[..., Any]) -> list[bytes]:
        return self._plain(start_response, "401 Unauthorized",
                           b"Sign in with the link's CalDAV user name and password.\n",
                           [("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')])

    def _dav(self, environ: dict[str, Any], start_response: Callable[..., Any],
             sub_path: str) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "").upper()
        if method not in METHODS:
            return self._plain(start_response, "405 Method Not Allowed", b"")
        if re.search(r"(^|/)\.", sub_path):
            if method in READS:
                return self._plain(start_response, "404 Not Found", b"")
            return self._plain(start_response, "403 Forbidden",
                               b"A name in the URL cannot start with a dot.\n")
        if method in ("GET", "HEAD") and environ.get("QUERY_STRING"):
            return self._plain(start_response, "400 Bad Request",
                               b"Query strings are not supported here.\n")
        address = environ.get("REMOTE_ADDR", "?")
        body = self._read_body(environ)
        if isinstance(body, tuple):
            return self._plain(start_response, *body)
        report_range, expand = None, False
        root: ET.Element | None = None
        if body and method in XML_METHODS:
            try:
                root = SafeET.fromstring(body)
                if _xml_depth(root, MAX_XML_DEPTH) > MAX_XML_DEPTH:
                    raise ValueError("nested too deeply")
                dav_bodies.check(method, root)
                if method == "REPORT":
                    report_range, expand = _report_range(root)
            except dav_bodies.BodyError as exc:
                return self._plain(start_response, "400 Bad Request", f"{exc}.\n".encode())
            except (ET.ParseError, DefusedXmlException, ValueError):
                return self._plain(start_response, "400 Bad Request",
                                   b"The XML body is malformed or not allowed.\n")
        credentials = _basic_credentials(environ.get("HTTP_AUTHORIZATION", ""))
        if credentials is None:
            return self._challenge(start_response)
        user, token = credentials
        # The answer's status is held until the request's database session has closed: closing
        # can fail too (a lost connection), and then the answer is a 503 instead.
        held: list[Any] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            held[:] = [status, headers]

        try:
            try:
                if method in ("GET", "HEAD") and self.runtime.dav_fast.enabled and \
                        PATH_CHARACTERS.fullmatch(sub_path):
                    # An item's GET in one query; anything it does not answer, the full path.
                    quick = self.quick_get(method, sub_path, user, token,
                                           self.runtime.clock.now(),
                                           environ.get("HTTP_ACCEPT_ENCODING", ""))
                    if quick is not None:
                        self.runtime.dav_fast.answered += 1
                        self.runtime.dav_fast.quick += 1
                        start_response(quick.status, quick.headers)
                        return quick
                answer = self._serve(environ, hold, method, sub_path, body, user, token,
                                     address, report_range, expand, root)
            except RadicaleFailure as failure:
                # Our storage failed inside Radicale: the database's errors mean what they
                # mean outside it (a lost connection is a 503), the rest is an incident.
                with translate_errors():
                    raise failure.error from None
        except BookingCalError as exc:
            log.warning("CalDAV request failed: %s", exc.message)
            return self._plain(start_response, "503 Service Unavailable",
                               (exc.message + "\n").encode(), [("Retry-After", "2")])
        except Exception as exc:
            return self._incident(start_response, exc)
        start_response(*held)
        return answer

    @staticmethod
    def _incident(start_response: Callable[..., Any], exc: Exception) -> list[bytes]:
        """The incident-id 500 of the JSON API's error handler, never Radicale's page."""
        body = incidents.incident_body(incidents.log_incident(exc))
        start_response("500 Internal Server Error",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(body)))])
        return [body]

    def _read_body(self, environ: dict[str, Any]) -> bytes | tuple[str, bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        encoding = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if encoding and encoding != "identity" and not length:
            return "411 Length Required", b"Send a Content-Length.\n"
        try:
            size = int(length) if length else 0
        except ValueError:
            return "400 Bad Request", b"Bad Content-Length.\n"
        if size < 0:
            return "400 Bad Request", b"Bad Content-Length.\n"
        if size > self.runtime.config.max_body_bytes:
            return "413 Request Entity Too Large", b"The request body is too large.\n"
        body = environ["wsgi.input"].read(size) if size else b""
        if len(body) != size:
            return "400 Bad Request", b"The request body ended early.\n"
        return body

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any],
               method: str, sub_path: str, body: bytes, user: bytes, token: str,
               address: str, report_range: tuple[int, int] | None, expand: bool,
               root: ET.Element | None = None) -> Iterable[bytes]:
        """The request's answer; the texts its publisher rendered are stored once the
        request's reading transaction has ended (never a second connection held with it:
        server/publishing/text_spool.py), before the answer is sent."""
        after = _After()
        try:
            answer = self._answer(environ, start_response, method, sub_path, body, user,
                                  token, address, report_range, expand, root, after)
        except BaseException:
            after.discard()
            raise
        after.run(self.runtime)
        return answer

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any],
                method: str, sub_path: str, body: bytes, user: bytes, token: str,
                address: str, report_range: tuple[int, int] | None, expand: bool,
                root: ET.Element | None, after: _After) -> Iterable[bytes]:
        runtime = self.runtime
        now = runtime.clock.now()
        with runtime.db.read() as session:
            # The link, the epoch and the link's calendars in one round trip (revocation and
            # expiry checked as ever).
            found = dav_lookup(session, runtime.keyring, token, now)
            link = found.link
            if link is None:
                # Only unknown tokens count (see server/publishing/feeds.py); a valid one is always served.
                if found.state == "unknown":
                    if self.limiter.blocked(address):
                        return self._plain(
                            start_response, "429 Too Many Requests",
                            b"Too many failed sign-ins from this address.\n",
                            [("Retry-After", str(self.limiter.retry_after(address)))])
                    self.limiter.failed(address)
                return self._challenge(start_response)
            principal = principal_name(link.id)
            if link.profile not in links.ITEM_PROFILES:
                # A `slots` link shows open times as a feed only; it has no calendar items.
                return self._challenge(start_response)
            if not user_matches(user, principal):
                # Same answer as a wrong password, after the same lookup. Not counted: whoever
                # sent it holds a valid token, so nothing is being guessed.
                return self._challenge(start_response)
            if link.writable:
                # A writable account's phone names what it makes (server/domain/resource_names.py):
                # a name that cannot be one is refused with the reason.
                refused = "the path is not percent-encoded UTF-8" \
                    if environ.get(NOT_UTF8) else resource_names.path_problem(sub_path)
                if refused is not None:
                    return self._plain(start_response, "400 Bad Request",
                                       f"{refused[0].upper()}{refused[1:]}.\n".encode())
            elif not PATH_CHARACTERS.fullmatch(sub_path):
                # No such resource can exist (a space, a non-ASCII character): answer as stock
                # Radicale does for a missing one, 404 to reads and 403 to writes, not 400.
                if method in READS:
                    return self._plain(start_response, "404 Not Found", b"")
                return self._plain(start_response, "403 Forbidden", b"")
            if links.touch_due(link, now):
                after.touch = (link.business_id, link.id, now)
            epoch, calendars = found.epoch, found.calendars
            view = link_view(link.scope, link.profile, link.reminder_minutes, link.writable,
                             calendars)
            request = DavRequest(
                runtime=runtime, session=session, link=link, token=token, principal=principal,
                calendars=calendars, epoch=epoch,
                publisher=Publisher(session, epoch, link.profile,  # type: ignore[arg-type]
                                    own_link=link.id if link.writable else None, view=view,
                                    business_id=link.business_id),
                now=now, report_range=report_range, report_expand=expand)
            after.publishers.append(request.publisher)
            if link.writable and method not in READS:
                # A phone's write: our own answer through the domain, never Radicale's.
                written = dav_write.handle(request, method, sub_path, body, environ) \
                    if method in ("PUT", "DELETE", "MKCALENDAR", "MKCOL", "PROPPATCH") \
                    else dav_write.refusal(
                        "403 Forbidden", "D:need-privileges",
                        "only events can be written here (PUT and DELETE)")
                start_response(written.status, [*written.headers,
                                                ("Content-Length", str(len(written.body)))])
                return [written.body]
            env = {key: value for key, value in environ.items() if key not in STRIPPED}
            env["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + DAV_PATH
            env["PATH_INFO"] = sub_path
            env["wsgi.input"] = io.BytesIO(body)
            env["CONTENT_LENGTH"] = str(len(body))
            env.pop("HTTP_TRANSFER_ENCODING", None)
            # The principal's canonical spelling, whatever case the client sent.
            env["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(
                f"{principal}:{token}".encode()).decode()
            context = CURRENT.set(request)
            answered: list[Any] = []

            def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
                answered[:] = [status, headers]

            try:
                # A writable account reads its own personal events as its phone sent them:
                # Radicale answers it from our storage (the fast path serves rendered texts).
                plan = decide(method, environ.get("HTTP_DEPTH", ""), sub_path, root, request) \
                    if runtime.dav_fast.enabled and not link.writable else None
                fast = None
                if plan is not None:
                    # Our own streaming answer; a database error in it means what it means
                    # outside Radicale (a lost connection is a 503), before anything is sent.
                    with translate_errors():
                        fast = self.fast.answer(plan, request, env)
                if fast is not None:
                    runtime.dav_fast.answered += 1
                    start_response(fast.status, fast.headers)
                    return fast
                # Radicale answers with a complete list, so the context can be cleared now.
                answer = list(self.radicale(env, hold))
            finally:
                CURRENT.reset(context)
            status = answered[0] if answered else "500 no answer"
            if status.startswith("5"):
                # Radicale's own error page (it caught something itself): ours instead.
                raise RadicaleStatusError(status.split(" ", 1)[0])
            start_response(*answered)
            return answer
