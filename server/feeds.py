"""GET /feeds/<token>.ics: a link's calendars as one iCalendar feed (Outlook, iPhone, macOS,
Google "From URL"). Rendered with icalendar through the link's profile into a temporary file,
then sent with its length (a failure is an error, never a partial calendar), with a strong ETag
from the journal so that a poll with a matching ETag costs one small indexed query."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
import zlib
from typing import IO, Iterator

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Business, Calendar, Link
from server.domain import journal, links
from server.ical import RENDER_VERSION, calendar_shell, render_timezone
from server.publish import Publisher
from server.redaction import Profile
from server.runtime import Runtime
from server.web.ratelimit import FailureLimiter

# A feed is rendered completely before it is sent; this much of it stays in memory.
SPOOL_MEMORY = 4 * 1024 * 1024
NOT_FOUND_BODY = "No calendar here. The link may have been revoked; ask for a new one.\n"


def feed_window(now: dt.datetime, days_back: int, days_ahead: int
                ) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC, starting at midnight UTC so it changes once a day."""
    start_day = now.date() - dt.timedelta(days=days_back)
    start = dt.datetime.combine(start_day, dt.time(), tzinfo=dt.timezone.utc)
    return start, start + dt.timedelta(days=days_back + days_ahead)


def feed_etag(link: Link, epoch: str, calendars: list[Calendar], window_start: dt.datetime,
              encoding: str) -> str:
    positions = ",".join(f"{c.id}:{c.journal_seq}" for c in calendars)
    key = (f"{link.id}:{link.profile}:{link.updated_at.isoformat()}:{epoch}:{positions}:"
           f"{window_start.date()}:{RENDER_VERSION}:{encoding}")
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:40] + '"'


def _gzip(chunks: Iterator[str]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        data = compressor.compress(chunk.encode("utf-8"))
        if data:
            yield data
    yield compressor.flush()


def _spool(chunks: Iterator[str], compress: bool) -> IO[bytes]:
    """The rendered feed in a temporary file: in memory up to SPOOL_MEMORY, on disk beyond."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
    try:
        for data in _gzip(chunks) if compress else (chunk.encode("utf-8") for chunk in chunks):
            spool.write(data)
    except BaseException:
        spool.close()
        raise
    return spool  # type: ignore[return-value]


def _drain(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while data := spool.read(64 * 1024):
            yield data


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return header.strip() == "*" or etag in [part.strip().removeprefix("W/")
                                            for part in header.split(",")]


def create_blueprint(runtime: Runtime, limiter: FailureLimiter) -> Blueprint:
    bp = Blueprint("feeds", __name__)
    config = runtime.config

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

    @bp.route("/feeds/<token>.ics", methods=["GET", "HEAD"])
    def feed(token: str) -> Response:
        address = request.remote_addr or "?"
        now = runtime.clock.now()
        with runtime.db.read() as session:
            found = links.lookup(session, runtime.keyring, token, now)
            link = found.link
            if link is None:
                return refused(address, found.state)
            if links.touch_due(link, now):
                with runtime.db.write() as writer:
                    links.touch(writer, link.id, now)
            calendars = links.visible_calendars(session, link)
            epoch = journal.epoch(session)
            start, end = feed_window(now, config.feed_days_back, config.feed_days_ahead)
            gzip_wanted = request.accept_encodings["gzip"] > 0
            etag = feed_etag(link, epoch, calendars, start, "gzip" if gzip_wanted else "identity")
            # Calendars that left the feed (deactivated, deleted) count too, and so does the
            # window's daily move: each changes the body.
            changed = max([c.changed_at or c.updated_at
                           for c in links.scope_calendars(session, link)]
                          + [link.updated_at, start + dt.timedelta(days=config.feed_days_back)])
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
            # The whole body is rendered before its first byte is sent: a database failure on
            # the way is a clean 503 (our error handler), never a 200 cut short that a feed
            # reader could take for the whole calendar (and drop the events it lacks); and the
            # connection goes back to the pool before a slow client has downloaded it.
            spool = _spool(_render(runtime, session, link, calendars, start, end),
                           gzip_wanted)
        headers["Content-Length"] = str(spool.tell())
        spool.seek(0)
        return Response(_drain(spool), status=200, headers=headers,
                        content_type="text/calendar; charset=utf-8")

    @bp.route("/feeds/<token>.ics", methods=["PUT", "DELETE", "POST", "PATCH"])
    def feed_read_only(token: str) -> Response:
        return Response("Feeds are read-only.\n", status=405, mimetype="text/plain",
                        headers={"Allow": "GET, HEAD"})

    return bp


def _render(runtime: Runtime, session: Session, link: Link, calendars: list[Calendar],
            start: dt.datetime, end: dt.datetime) -> Iterator[str]:
    """The feed's text, piece by piece: header, VTIMEZONEs, events, footer."""
    profile: Profile = link.profile  # type: ignore[assignment]
    publisher = Publisher(session, journal.epoch(session), profile)
    business = session.execute(select(Business).where(Business.id == link.business_id)
                               ).scalar_one()
    if link.scope == "calendar" and len(calendars) == 1:
        name = calendars[0].name
    else:
        name = business.name + (f" – {link.label}" if link.label else "")
    tzid = calendars[0].timezone if len(calendars) == 1 else business.timezone
    zones = publisher.tzids_in_range(calendars, start, end)
    refresh = dt.timedelta(minutes=runtime.config.feed_refresh_minutes)
    head, tail = calendar_shell(name, tzid, refresh)
    yield head
    for zone_name in sorted(zones):
        yield render_timezone(zone_name)
    batch: list[str] = []
    for text in publisher.texts_in_range(calendars, start, end):
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
