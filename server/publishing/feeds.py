"""GET /feeds/<token>.ics: a link's calendars as one iCalendar feed (Outlook, iPhone, macOS,
Google "From URL"). The same route serves /feeds/<token>.vfb, the link's busy time as a
VFREEBUSY (server/publishing/freebusy.py), and for a `slots` link its open times as ICS or .json
(server/publishing/slotfeed.py) instead of its items.

Every request costs one indexed query (server/publishing/feedstate.py): the token's link, the epoch and the
journal positions of its calendars, from which come 404 for an unknown, revoked or expired
token (at once, also when another process revoked it), the strong ETag and Last-Modified. A poll
whose ETag matches is answered 304 from that alone.

A body is rendered through the link's profile (texts kept in rendered_items, see publish.py) into
a temporary file, then sent with its length (a failure is an error, never a partial calendar).
Its gzip form is kept in this process's BodyCache (server/publishing/feedcache.py) under the body's key, so
the next subscriber of the same state gets those bytes without rendering or compressing again;
an identity request for a cached state is decompressed on the way out. Concurrent misses for one
state render it once.

The first render of a feed (nothing in rendered_items: a new link or profile on a big calendar)
is done twice over: right after the link is created or its profile changed, in the background
(server/publishing/prerender.py), so that the first subscriber normally finds every text stored; and, for
whatever is still missing when a request comes (a link made by the command line, a request
arriving before the background render is done), on the request itself, made fast by rendering
from plain column rows (no ORM objects) with our own VEVENT writer (server/publishing/ical.py). Rendering
at each write for every profile was not chosen: it would render every item for every profile
whether anyone subscribes or not."""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import threading
import zlib
from typing import IO, Any, Callable, Iterable, Iterator

from prometheus_client import Counter
from werkzeug.wrappers import Request, Response

from server.web import incidents
from server.domain import links
from server.errors import BookingCalError
from server.publishing.feedcache import BodyCache, CachedBody
from server.publishing import freebusy as freebusy_days
from server.publishing.freebusy import busy_periods, freebusy_etag, freebusy_uid, render_freebusy
from server.publishing.slotcache import SlotEntry, inputs_key
from server.publishing.slotfeed import (
    body_etag, open_slots, render_slots_ics, render_slots_json, slot_window,
)
from server.publishing.feedstate import (
    FeedCalendar, FeedState, FeedStates, body_key, feed_etag, feed_window, last_modified,
)
from server.publishing.ical import calendar_shell, render_timezone
from server.publishing.link_views import names_blocked
from server.publishing.publish import Publisher
from server.redaction import Profile
from server.runtime import Runtime
from server.web.middleware import ROUTE_KEY, WSGIApp
from server.web.ratelimit import FailureLimiter

__all__ = ["FeedMount", "feed_window", "feed_etag"]

# A feed is rendered completely before it is sent; this much of it stays in memory.
SPOOL_MEMORY = 4 * 1024 * 1024
NOT_FOUND_BODY = "No calendar here. The link may have been revoked; ask for a new one.\n"


class Rendered:
    """A body rendered on a miss: its gzip form, and its identity form when that was asked
    for, each in a temporary file (in memory up to SPOOL_MEMORY, on disk beyond)."""

    def __init__(self, chunks: Iterator[str], identity: bool) -> None:
        self.gzip: IO[bytes] = tempfile.SpooledTemporaryFile(  # type: ignore[assignment]
            max_size=SPOOL_MEMORY)
        self.identity: IO[bytes] | None = tempfile.SpooledTemporaryFile(  # type: ignore
            max_size=SPOOL_MEMORY) if identity else None
        self.identity_length = 0
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        try:
            for chunk in chunks:
                data = chunk.encode("utf-8")
                self.identity_length += len(data)
                if self.identity is not None:
                    self.identity.write(data)
                self.gzip.write(compressor.compress(data))
            self.gzip.write(compressor.flush())
        except BaseException:
            self.close()
            raise

    def cacheable(self, cache: BodyCache) -> CachedBody | None:
        """The gzip form as a cache entry, if it fits the cache at all."""
        if self.gzip.tell() > cache.budget:
            return None
        self.gzip.seek(0)
        return CachedBody(self.gzip.read(), self.identity_length)

    def close(self) -> None:
        self.gzip.close()
        if self.identity is not None:
            self.identity.close()


def _drain(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        spool.seek(0)
        while data := spool.read(64 * 1024):
            yield data


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return header.strip() == "*" or etag in [part.strip().removeprefix("W/")
                                            for part in header.split(",")]


class KeyLocks:
    """One lock per body key being rendered, so that concurrent misses render it once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, int]] = {}

    def acquire(self, key: str) -> threading.Lock:
        with self._lock:
            lock, users = self._held.get(key, (threading.Lock(), 0))
            self._held[key] = (lock, users + 1)
        lock.acquire()
        return lock

    def release(self, key: str, lock: threading.Lock) -> None:
        lock.release()
        with self._lock:
            _, users = self._held[key]
            if users <= 1:
                del self._held[key]
            else:
                self._held[key] = (lock, users - 1)


FEED_PATH = re.compile(r"/feeds/([^/]+)\.(ics|vfb|json)")
ROUTES = {"ics": "/feeds/<token>.ics", "vfb": "/feeds/<token>.vfb",
          "json": "/feeds/<token>.json"}
ROUTE = ROUTES["ics"]


class FeedMount:
    """The feed route as a WSGI layer in front of the Flask application (which never sees
    /feeds/<token>.ics): a poll is dominated by per-request framework work otherwise. Errors
    take the JSON API's shape: a domain error (a busy or lost database) its status, anything
    else escapes to the Shield's incident-id 500."""

    def __init__(self, app: WSGIApp, runtime: Runtime, limiter: FailureLimiter,
                 counter: Counter | None = None) -> None:
        """`counter` (labels: result = hit, miss, uncached) counts how bodies were served."""
        self.app = app
        self.runtime = runtime
        self.limiter = limiter
        self.counter = counter
        self.states = FeedStates(runtime.db, runtime.keyring)
        self.cache = BodyCache(runtime.config.feed_cache_bytes)
        self.slot_cache = runtime.slot_cache
        self.rendering = KeyLocks()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        match = FEED_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None:
            return self.app(environ, start_response)
        kind = match.group(2)
        environ[ROUTE_KEY] = ROUTES[kind]
        request = Request(environ)
        if request.method not in ("GET", "HEAD"):
            response = Response("Feeds are read-only.\n", status=405, mimetype="text/plain",
                                headers={"Allow": "GET, HEAD"})
        else:
            try:
                response = self.feed(request, match.group(1), kind)
            except BookingCalError as exc:
                response = _error(exc)
        return response(environ, start_response)

    def count(self, result: str) -> None:
        if self.counter is not None:
            self.counter.labels(result).inc()

    def refused(self, address: str, state: str) -> Response:
        """A token that opens nothing. Only unknown ones count towards the address's limit: a
        revoked or expired one is a stale subscription, not a guess, and a fetcher's shared
        address must not be blocked by it."""
        limiter = self.limiter
        if state == "unknown":
            if limiter.blocked(address):
                return Response("Too many unknown links from this address; try again later.\n",
                                status=429, mimetype="text/plain",
                                headers={"Retry-After": str(limiter.retry_after(address))})
            limiter.failed(address)
        return Response(NOT_FOUND_BODY, status=404, mimetype="text/plain")

    def feed(self, request: Request, token: str, kind: str = "ics") -> Response:
        """A link's feed (`kind` "ics"), free/busy ("vfb") or open slots ("ics" or "json" of
        a `slots` link); what a link does not serve is the 404 of an unknown one."""
        runtime, config = self.runtime, self.runtime.config
        address = request.remote_addr or "?"
        now = runtime.clock.now()
        state = self.states(token, now)
        link = state.link
        if link is None:
            return self.refused(address, state.state)
        slots = link.profile == "slots"
        if (kind == "json" and not slots) or (kind == "vfb" and slots):
            return Response(NOT_FOUND_BODY, status=404, mimetype="text/plain")
        if links.touch_due(link, now):  # type: ignore[arg-type]
            with runtime.db.write() as writer:
                links.touch(writer, link.business_id, link.id, now)
        if slots:
            return self.open_slots(request, state, now, kind)
        if kind == "vfb":
            return self.freebusy(request, state, now)
        window = feed_window(now, config.feed_days_back, config.feed_days_ahead)
        key = body_key(state, window, config.feed_refresh_minutes)
        gzip_wanted = request.accept_encodings["gzip"] > 0
        etag = feed_etag(key, "gzip" if gzip_wanted else "identity")
        changed = last_modified(state, window[0], config.feed_days_back)
        headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate",
                   "Last-Modified": changed.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                   "Vary": "Accept-Encoding"}
        since = request.if_modified_since
        if _matches(request.headers.get("If-None-Match"), etag) or (
                "If-None-Match" not in request.headers and since is not None
                and changed.replace(microsecond=0) <= since):
            return Response(status=304, headers=headers)
        if gzip_wanted:
            headers["Content-Encoding"] = "gzip"
        headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
        content_type = "text/calendar; charset=utf-8"
        if request.method == "HEAD":
            return Response(status=200, headers=headers, content_type=content_type)
        # On a miss the whole body is rendered before its first byte is sent: a database
        # failure on the way is a clean 503, never a 200 cut short that a feed reader could
        # take for the whole calendar (and drop the events it lacks); and the connection goes
        # back to the pool before a slow client has downloaded it.
        body = self.cached_or_rendered(state, key, window, gzip_wanted)
        if isinstance(body, CachedBody):
            if gzip_wanted:
                headers["Content-Length"] = str(len(body.gzip))
                return Response([body.gzip], status=200, headers=headers,
                                content_type=content_type)
            headers["Content-Length"] = str(body.identity_length)
            return Response(body.identity_chunks(), status=200, headers=headers,
                            content_type=content_type)
        if gzip_wanted:
            if body.identity is not None:
                body.identity.close()
            spool = body.gzip
        else:
            assert body.identity is not None
            body.gzip.close()
            spool = body.identity
        headers["Content-Length"] = str(spool.tell())
        return Response(_drain(spool), status=200, headers=headers, content_type=content_type)

    def freebusy(self, request: Request, state: FeedState, now: dt.datetime) -> Response:
        """The link's busy time over its window as a VFREEBUSY (server/publishing/freebusy.py), with
        the feed's conditional GET."""
        runtime, config = self.runtime, self.runtime.config
        link = state.link
        assert link is not None
        window = feed_window(now, freebusy_days.DAYS_BACK, freebusy_days.DAYS_AHEAD)
        key = body_key(state, window, config.feed_refresh_minutes)
        etag = freebusy_etag(key)
        changed = last_modified(state, window[0], freebusy_days.DAYS_BACK)
        headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate",
                   "Last-Modified": changed.strftime("%a, %d %b %Y %H:%M:%S GMT")}
        since = request.if_modified_since
        if _matches(request.headers.get("If-None-Match"), etag) or (
                "If-None-Match" not in request.headers and since is not None
                and changed.replace(microsecond=0) <= since):
            return Response(status=304, headers=headers)
        headers["Content-Disposition"] = 'inline; filename="freebusy.vfb"'
        content_type = "text/calendar; charset=utf-8"
        if request.method == "HEAD":
            return Response(status=200, headers=headers, content_type=content_type)
        with runtime.db.read() as session:
            periods = busy_periods(session, state.calendars, *window)
        body = render_freebusy(periods, *window, stamp=changed,
                               uid=freebusy_uid(link.id, state.epoch)).encode("ascii")
        headers["Content-Length"] = str(len(body))
        return Response([body], status=200, headers=headers, content_type=content_type)

    def open_slots(self, request: Request, state: FeedState, now: dt.datetime,
                   kind: str) -> Response:
        """A `slots` link's open times (server/publishing/slotfeed.py), as ICS or JSON, computed when
        their inputs or the time changed them and kept meanwhile (server/publishing/slotcache.py); the
        strong ETag is the body's digest, so a poll gets 304 until the slots change."""
        runtime = self.runtime
        link = state.link
        assert link is not None
        defaults = runtime.config.availability
        if kind == "json":
            content_type, filename = "application/json", "slots.json"
        else:
            content_type, filename = "text/calendar; charset=utf-8", "slots.ics"
        with runtime.db.read() as session:
            # One cheap query names the inputs; the slots are computed only when they or the
            # time changed them (server/publishing/slotcache.py).
            inputs = inputs_key(session, state, *slot_window(state, now, defaults), kind)
            key, freshness = inputs.key, None
            if inputs.hides:  # the sources' states are inputs too (time alone changes them)
                freshness = runtime.freshness(session, link.business_id,
                                              [c.id for c in state.calendars], now)
                key = inputs.with_freshness(sorted(
                    f"{source.calendar_id}:{source.provider}:{source.connection_id}:"
                    f"{source.state}" for sources in freshness.by_calendar.values()
                    for source in sources))
            entry = self.slot_cache.get(link.id, kind, key, now)
            if entry is None:
                found = open_slots(session, state, now, defaults, freshness)
                if found is None:  # its service was deleted
                    return Response(NOT_FOUND_BODY, status=404, mimetype="text/plain")
                if kind == "json":
                    body = render_slots_json(found).encode("utf-8")
                else:
                    refresh = dt.timedelta(minutes=runtime.config.feed_refresh_minutes)
                    body = render_slots_ics(found, state, refresh).encode("utf-8")
                assert found.until is not None
                entry = SlotEntry(key, body, body_etag(body), now, found.until)
                self.slot_cache.put(link.id, kind, entry)
        body, etag = entry.body, entry.etag
        headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate"}
        if _matches(request.headers.get("If-None-Match"), etag):
            return Response(status=304, headers=headers)
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
        headers["Content-Length"] = str(len(body))
        if request.method == "HEAD":
            return Response(status=200, headers=headers, content_type=content_type)
        return Response([body], status=200, headers=headers, content_type=content_type)

    def cached_or_rendered(self, state: FeedState, key: str,
                           window: tuple[dt.datetime, dt.datetime], gzip_wanted: bool
                           ) -> CachedBody | Rendered:
        cache = self.cache
        entry = cache.get(key)
        if entry is not None:
            self.count("hit")
            return entry
        lock = self.rendering.acquire(key)
        try:
            entry = cache.get(key)  # rendered by another request while this one waited
            if entry is not None:
                self.count("hit")
                return entry
            link = state.link
            assert link is not None  # an answered feed's state names its link
            with self.runtime.db.read() as session:
                publisher = Publisher(session, state.epoch, link.profile,  # type: ignore
                                      business_id=link.business_id)
                try:
                    rendered = Rendered(_render(self.runtime, publisher, state, *window),
                                        not gzip_wanted)
                except BaseException:
                    publisher.discard()
                    raise
            # Stored after the reading transaction ended: never two connections held at once
            # (server/publishing/text_spool.py).
            publisher.save(self.runtime.db)
            entry = rendered.cacheable(cache)
            if entry is not None and cache.put(key, entry):
                rendered.close()
                self.count("miss")
                return entry
            self.count("uncached")
            return rendered
        finally:
            self.rendering.release(key, lock)


def _error(exc: BookingCalError) -> Response:
    """The JSON API's error shape (server/api/errors.py) without Flask."""
    status = incidents.status_of(exc)
    body = json.dumps({"error": {"status": status, "code": exc.code, "message": exc.message,
                                 "details": exc.details or {}}})
    headers = {"Retry-After": "2"} if status == 503 else {}
    return Response(body, status=status, mimetype="application/json", headers=headers)


def _render(runtime: Runtime, publisher: Publisher, state: FeedState, start: dt.datetime,
            end: dt.datetime) -> Iterator[str]:
    """The feed's text, piece by piece: header, VTIMEZONEs, events, footer (the texts it
    renders stay in `publisher`, for the caller to store)."""
    link = state.link
    assert link is not None
    calendars: list[FeedCalendar] = state.calendars
    profile: Profile = link.profile  # type: ignore[assignment]
    if link.scope == "calendar" and len(calendars) == 1:
        name = calendars[0].name
    else:
        name = state.business_name + (f" – {link.label}" if link.label else "")
    tzid = calendars[0].timezone if len(calendars) == 1 else state.business_timezone
    zones = publisher.tzids_in_range(calendars, start, end)  # type: ignore[arg-type]
    refresh = dt.timedelta(minutes=runtime.config.feed_refresh_minutes)
    head, tail = calendar_shell(name, tzid, refresh)
    yield head
    for zone_name in sorted(zones):
        yield render_timezone(zone_name)
    batch: list[str] = []
    # In a feed of several calendars, three identical "Lunch" events are told apart by their
    # employee; "Busy" stays the time only.
    name_blocked = names_blocked(link.scope, profile)
    for text in publisher.texts_in_range(calendars, start, end,  # type: ignore[arg-type]
                                         link.reminder_minutes, name_blocked):
        batch.append(text)
        if len(batch) >= 1000:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)
    yield tail
