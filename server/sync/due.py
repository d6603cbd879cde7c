"""Which connections of a provider have work, found without reading every connection's rows
on every pass.

A bridge passes over its providers every half second and at every journal change. A full look
(the provider's `workable` and `wanted`: every connection, calendar map and copy) costs rows in
proportion to the fleet, so a fleet's passes cost its square. The bridge's loop therefore takes
a full look once per FULL_EVERY, and in between reads only what changed:

- the journal entries after the last ones seen (`JournalTail`: by id, in commit order even
  where PostgreSQL commits ids out of order), and the connections mapping their calendars;
- the connections asked for a read (a push notification: a partial index holds only those);
- connections added since the last look (ids above the highest known);
- reads done by other processes since the last look (`last_sync_at`, indexed);
- the connections that still had work at the last look, until they have none.

Polls come from memory (each connection's last read, its interval). What the journal does not
say (a setting that rewrites every copy, a calendar newly mapped, a failed item's retry time, a
paused connection's end of pause, a reconnected account) is found by the next full look: at most
FULL_EVERY late. `Engine.run_once` without `quick` (one-off syncs, the CLI) always takes full
looks; the loop's own looks are quick (`Engine.run`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from queue import SimpleQueue

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import JournalEntry
from server.sync import workable
from server.sync.provider import Provider

FULL_EVERY = dt.timedelta(seconds=30)  # between full looks of the bridge's loop
GAP_WAIT = dt.timedelta(seconds=30)  # an id still missing this long was rolled back
JOURNAL_BATCH = 5000  # journal entries read per look; more: a full look instead
SHARED_SLACK = dt.timedelta(seconds=10)  # other processes' reads looked at again
CHUNK = 500  # ids per IN list


def chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    """`ids` sorted, in lists of at most CHUNK."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


@dataclass
class JournalTail:
    """The journal entries not seen yet, by id. On PostgreSQL an id is taken when a row is
    inserted and becomes visible when its transaction commits, so a lower id may appear after
    a higher one: every id up to `mark` has been seen; above it, `seen` holds those seen and
    `missing` when each gap was first noticed. A gap still open after GAP_WAIT is a rolled-back
    transaction (or a very long one, which the next full look covers)."""

    mark: int | None = None
    seen: set[int] = field(default_factory=set)
    missing: dict[int, dt.datetime] = field(default_factory=dict)

    def restart(self, session: Session) -> None:
        """From the newest entry on (a full look covers everything before it)."""
        self.mark = int(session.execute(select(func.max(JournalEntry.id))).scalar() or 0)
        self.seen.clear()
        self.missing.clear()

    def calendars(self, session: Session, now: dt.datetime) -> set[int] | None:
        """The calendars of the entries not seen before; None when there are too many to say
        (a full look is cheaper) or no mark yet."""
        if self.mark is None:
            return None
        rows = session.execute(select(JournalEntry.id, JournalEntry.calendar_id).where(
            JournalEntry.id > self.mark).order_by(JournalEntry.id).limit(JOURNAL_BATCH)).all()
        if len(rows) >= JOURNAL_BATCH:
            return None
        changed = {int(calendar) for entry, calendar in rows if entry not in self.seen}
        self.seen.update(int(entry) for entry, _ in rows)
        top = max(self.seen, default=self.mark)
        if top - self.mark > 2 * JOURNAL_BATCH:  # gaps beyond bookkeeping: start afresh
            return None
        for gap in range(self.mark + 1, top):
            if gap not in self.seen:
                self.missing.setdefault(gap, now)
        while True:
            following = self.mark + 1
            if following in self.seen:
                self.seen.discard(following)
            elif following in self.missing and now - self.missing[following] >= GAP_WAIT:
                pass
            else:
                break
            self.missing.pop(following, None)
            self.mark = following
        return changed


@dataclass
class DueTracker:
    """One provider's connections as the bridge's loop knows them between full looks."""

    workable: set[int] = field(default_factory=set)
    pending: set[int] = field(default_factory=set)  # had work at the last look
    intervals: dict[int, dt.timedelta] = field(default_factory=dict)  # own poll intervals
    unread: set[int] = field(default_factory=set)  # read nothing (see `reads`)
    highest: int = 0  # the highest connection id known
    next_full: dt.datetime | None = None
    shared_since: dt.datetime | None = None
    journal: JournalTail = field(default_factory=JournalTail)

    # What passes found out, told from the threads working connections and applied by the
    # look (in the loop's thread): the sets above are only ever changed by the looks.
    told: SimpleQueue[tuple[int, bool | None]] = field(default_factory=SimpleQueue)

    def full_due(self, now: dt.datetime) -> bool:
        return self.next_full is None or now >= self.next_full

    def forget(self, connection_id: int) -> None:
        """A connection found gone, paused or needing reconnection: not polled until a full
        look finds it workable again (any thread)."""
        self.told.put((connection_id, None))

    def reads(self, connection_id: int, reading: bool) -> None:
        """Whether a connection reads anything (any thread): one that does not is never due
        for a poll until the next full look (which works it once more: a setting may have
        turned reading on)."""
        self.told.put((connection_id, reading))

    def settle(self) -> None:
        """Apply what passes told since the last look."""
        while not self.told.empty():
            connection_id, reading = self.told.get()
            if reading is None:
                self.workable.discard(connection_id)
                self.pending.discard(connection_id)
            elif reading:
                self.unread.discard(connection_id)
            else:
                self.unread.add(connection_id)


SharedReads = Callable[[Session, dt.datetime], None]


def full_look(tracker: DueTracker, provider: Provider, session: Session, now: dt.datetime,
              shared_reads: SharedReads) -> tuple[set[int], set[int]]:
    """Every workable connection and those wanted (the provider's own queries over all its
    rows); restarts the journal tail first, so nothing committed meanwhile is missed."""
    tracker.settle()  # what passes told is superseded by what this look finds
    tracker.journal.restart(session)
    table = provider.connections
    tracker.highest = int(session.execute(select(func.max(table.id))).scalar() or 0)
    found = set(provider.workable(session, now))
    wanted = provider.wanted(session, now)
    tracker.intervals = provider.poll_intervals(session)
    shared_reads(session, now - max([provider.poll_interval, *tracker.intervals.values()]))
    tracker.workable, tracker.pending = found, set(wanted)
    tracker.unread.clear()
    tracker.next_full, tracker.shared_since = now + FULL_EVERY, now
    return found, wanted


def mapping(provider: Provider, session: Session, calendars: Collection[int]) -> set[int]:
    """Connections sending or reading any of `calendars` (ix_*_calendar)."""
    maps = provider.tables.calendar_map
    if maps is None or not calendars:
        return set()
    found: set[int] = set()
    for part in chunks(calendars):
        found.update(session.execute(select(maps.connection_id).where(
            maps.calendar_id.in_(part)).distinct()).scalars())
    return found


def quick_look(tracker: DueTracker, provider: Provider, session: Session, now: dt.datetime,
               shared_reads: SharedReads) -> tuple[set[int], set[int]] | None:
    """What changed since the last look, in rows of the changes alone; None when a full look
    is due (or the changes are too many to follow)."""
    if tracker.full_due(now):
        return None
    tracker.settle()
    changed = tracker.journal.calendars(session, now)
    if changed is None:
        return None
    table = provider.connections
    added = set(session.execute(select(table.id).where(
        table.id > tracker.highest)).scalars())
    if added:
        tracker.highest = max(added)
    candidates = tracker.pending | workable.asked(provider.tables, session) | mapping(
        provider, session, changed) | added
    wanted: set[int] = set()
    for part in chunks(candidates):
        wanted |= provider.wanted(session, now, only=part)
    unknown = (wanted | added) - tracker.workable
    for part in chunks(unknown):
        tracker.workable.update(provider.workable(session, now, only=part))
    if tracker.shared_since is not None:
        shared_reads(session, tracker.shared_since - SHARED_SLACK)
    tracker.shared_since = now
    tracker.pending = wanted
    return tracker.workable, wanted
