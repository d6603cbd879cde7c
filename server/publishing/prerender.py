"""Feeds rendered before their first subscriber asks: when a link is created or its profile
changes, a background thread of the process that made the change renders the items of the
link's calendars in the feed window through the link's profile and stores the texts in
rendered_items (what the first feed request would have done), so that the first subscriber of
a new link on a big calendar gets a feed put together from stored texts instead of waiting for
every item to be rendered.

Best effort and never in the way: one thread per process, started on demand and ending when
nothing is left; links are handled one at a time in the order given (a link given again while
waiting is handled once); a request arriving meanwhile renders what is still missing itself
(the upsert makes double work harmless); a failure is logged by type and costs only the
rendering on the first request. Texts already stored for the profile (another link with the
same profile on the calendar) are not rendered again. `[feeds] prerender = false` turns it
off. A link made by `bookingcal links create` (a command that ends at once) is rendered on its
first request, as before."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from server.db.models import Link
from server.db.scope import get_of
from server.domain import journal, links
from server.errors import BookingCalError
from server.publishing.feedstate import feed_window
from server.publishing.publish import Publisher

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger(__name__)


class Prerenderer:
    """`submit(runtime, business_id, link_id)` after the link's transaction committed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, int], None] = {}  # (business, link), in the order given
        self._worker: threading.Thread | None = None
        self.finished = 0  # links handled (rendered, or found not to need it)

    def submit(self, runtime: Runtime, business_id: int, link_id: int) -> None:
        if not runtime.config.feed_prerender:
            return
        with self._lock:
            self._pending[(business_id, link_id)] = None
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, args=(runtime,),
                                                name="feed-prerender", daemon=True)
                self._worker.start()

    def wait(self, timeout: float) -> bool:
        """Wait until nothing is left (a server stopping, a test); False if time ran out."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        with self._lock:
            return self._worker is None and not self._pending

    def _run(self, runtime: Runtime) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._worker = None
                    return
                business_id, link_id = next(iter(self._pending))
                del self._pending[(business_id, link_id)]
            try:
                prerender_link(runtime, business_id, link_id)
            except (BookingCalError, SQLAlchemyError) as exc:
                log.info("link %d not pre-rendered (its first request renders it): %s",
                         link_id, type(exc).__name__)
            except Exception as exc:  # a bug must not end the thread with links waiting
                log.error("pre-rendering link %d failed: %s", link_id, type(exc).__name__)
            with self._lock:
                self.finished += 1


def prerender_link(runtime: Runtime, business_id: int, link_id: int) -> int:
    """Render and store what the link's feed lacks; returns how many texts were rendered."""
    now = runtime.clock.now()
    config = runtime.config
    start, end = feed_window(now, config.feed_days_back, config.feed_days_ahead)
    with runtime.db.read() as session:
        link = get_of(session, Link, business_id, link_id)
        if link is None or links.link_state(link, now) != "active":
            return 0
        if link.profile == "slots":  # open times, computed per request: no item texts
            return 0
        calendars = links.visible_calendars(session, link)
        publisher = Publisher(session, journal.epoch(session), link.profile,  # type: ignore
                              business_id=link.business_id)
        try:
            for _ in publisher.texts_in_range(calendars, start, end):
                pass  # the publisher keeps (spills) what it renders
        except BaseException:
            publisher.discard()
            raise
        publisher.spill()
    rendered = publisher.spool.count
    publisher.save(runtime.db)  # after the reading transaction (text_spool.py)
    return rendered
