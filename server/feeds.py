"""GET /feeds/<token>.ics: a link's calendars as one iCalendar feed (Outlook, iPhone, macOS,
Google "From URL").

Every request costs one indexed query (server/feedstate.py): the token's link, the epoch and the
journal positions of its calendars, from which come 404 for an unknown, revoked or expired
token (at once, also when another process revoked it), the strong ETag and Last-Modified. A poll
whose ETag matches is answered 304 from that alone.

A body is rendered through the link's profile (texts kept in rendered_items, see publish.py) into
a temporary file, then sent with its length (a failure is an error, never a partial calendar).
Its gzip form is kept in this process's BodyCache (server/feedcache.py) under the body's key, so
the next subscriber of the same state gets those bytes without rendering or compressing again;
an identity request for a cached state is decompressed on the way out. Concurrent misses for one
state render it once."""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
import zlib
from typing import IO, Iterator

from flask import Blueprint, Response, request
from prometheus_client import Counter
from sqlalchemy.orm import Session

from server.domain import links
from server.feedcache import BodyCache, CachedBody
from server.feedstate import (
    FeedCalendar, FeedState, body_key, feed_etag, feed_state, feed_window, last_modified,
)
from server.ical import calendar_shell, render_timezone
from server.publish import Publisher
from server.redaction import Profile
from server.runtime import Runtime
from server.web.ratelimit import FailureLimiter

__all__ = ["create_blueprint", "feed_window", "feed_etag"]

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


def create_blueprint(runtime: Runtime, limiter: FailureLimiter,
                     counter: Counter | None = None) -> Blueprint:
    """The feed routes. `counter` (labels: result = hit, miss, uncached) counts how bodies
    were served."""
    bp = Blueprint("feeds", __name__)
    config = runtime.config
    cache = BodyCache(config.feed_cache_bytes)
    rendering = KeyLocks()
    bp.record_once(lambda state: state.app.extensions.setdefault("bookingcal.feed_cache", cache))

    def count(result: str) -> None:
        if counter is not None:
            counter.labels(result).inc()

    def not_found() -> Response:
        return Response(NOT_FOUND_BODY, status=404, mimetype="text/plain")

    def refused(address: str, state: str) -> Response:
        """A token that opens nothing. Only unknown ones count towards the address's limit: a
        revoked or expired one is a stale subscription, not a guess, and a fetcher's shared
        address must not be blocked by it."""
        if state == "unknown":
            if limiter.blocked(address):
                return Response("Too many unknown links from this address; try again later.\n",
                                status=429, mimetype="text/plain",
                                headers={"Retry-After": str(limiter.retry_after(address))})
            limiter.failed(address)
        return not_found()

    def cached_or_rendered(session: Session, state: FeedState, key: str,
                           window: tuple[dt.datetime, dt.datetime], gzip_wanted: bool
                           ) -> CachedBody | Rendered:
        entry = cache.get(key)
        if entry is not None:
            count("hit")
            return entry
        lock = rendering.acquire(key)
        try:
            entry = cache.get(key)  # rendered by another request while this one waited
            if entry is not None:
                count("hit")
                return entry
            rendered = Rendered(_render(runtime, session, state, *window), not gzip_wanted)
            entry = rendered.cacheable(cache)
            if entry is not None and cache.put(key, entry):
                rendered.close()
                count("miss")
                return entry
            count("uncached")
            return rendered
        finally:
            rendering.release(key, lock)

    @bp.route("/feeds/<token>.ics", methods=["GET", "HEAD"])
    def feed(token: str) -> Response:
        address = request.remote_addr or "?"
        now = runtime.clock.now()
        with runtime.db.read() as session:
            state = feed_state(session, runtime.keyring, token, now)
            link = state.link
            if link is None:
                return refused(address, state.state)
            if links.touch_due(link, now):  # type: ignore[arg-type]
                with runtime.db.write() as writer:
                    links.touch(writer, link.id, now)
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
            if request.method == "HEAD":
                return Response(status=200, headers=headers,
                                content_type="text/calendar; charset=utf-8")
            # On a miss the whole body is rendered before its first byte is sent: a database
            # failure on the way is a clean 503 (our error handler), never a 200 cut short that
            # a feed reader could take for the whole calendar (and drop the events it lacks);
            # and the connection goes back to the pool before a slow client has downloaded it.
            body = cached_or_rendered(session, state, key, window, gzip_wanted)
        content_type = "text/calendar; charset=utf-8"
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

    @bp.route("/feeds/<token>.ics", methods=["PUT", "DELETE", "POST", "PATCH"])
    def feed_read_only(token: str) -> Response:
        return Response("Feeds are read-only.\n", status=405, mimetype="text/plain",
                        headers={"Allow": "GET, HEAD"})

    return bp


def _render(runtime: Runtime, session: Session, state: FeedState, start: dt.datetime,
            end: dt.datetime) -> Iterator[str]:
    """The feed's text, piece by piece: header, VTIMEZONEs, events, footer."""
    link = state.link
    assert link is not None
    calendars: list[FeedCalendar] = state.calendars
    profile: Profile = link.profile  # type: ignore[assignment]
    publisher = Publisher(session, state.epoch, profile)
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
    for text in publisher.texts_in_range(calendars, start, end):  # type: ignore[arg-type]
        batch.append(text)
        if len(batch) >= 1000:
            yield "".join(batch)
            batch = []
            if len(publisher.fresh) >= 1000:
                publisher.save(runtime.db)
    if batch:
        yield "".join(batch)
    publisher.save(runtime.db)
    yield tail
