"""What an employee's phone may change through a writable CalDAV account, through the same
write path as everything else (one transaction under the calendar's lock, journaled with the
account that made the change):

- a personal event (any event that is not one of our bookings): stored as blocked time that
  keeps the client's text as sent; whether it blocks online booking is the one blocking policy
  (server/domain/blocking.py) applied to its TRANSP and STATUS; an opaque one may not overlap a
  booking, as any blocked time;
- a booking's time: a reschedule under the staff rules (no overlap with bookings, blocked or
  personal time, buffers included; the business may also require opening hours);
- a booking's deletion: a cancel, when the business allows it (`allow_cancel_from_calendar`).

Refusals are ConflictError (a rule, with the reason) or ForbiddenError (not allowed at all)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.config import AvailabilityConfig
from server.db.models import (
    AccountAlarm, BlockedTime, Booking, Business, Calendar, GoogleConnection, Link,
    PersonalCalendar, PhoneTask,
)
from server.db.scope import business_beside, get_of, in_calendar, reread
from server.domain import journal, schedules
from server.domain.availability import OUTSIDE_HOURS, Reason, describe
from server.domain.blocked import refuse_booked
from server.domain.blocking import DEFAULT, BlockingPolicy, blocks
from server.domain.bookings import (
    MAX_LENGTH, forget_rendered, get_booking, update_booking, widen_span,
)
from server.domain.calendars import lock_calendar
from server.domain.timeutil import series_end, to_local
from server.errors import ConflictError, ForbiddenError
from server.domain.phone_event import INSTANCE_PREFIX, PhoneEvent


MAX_TITLE = 200
ZERO_LENGTH = dt.timedelta(seconds=1)


class StaleError(ConflictError):
    """The item changed after the phone's request was checked (its If-Match no longer holds)."""


def _expect(seq: int, expect_seq: int | None) -> None:
    if expect_seq is not None and seq != expect_seq:
        raise StaleError("the item changed meanwhile; sync again")


def actor_of(link_id: int) -> str:
    """How the journal names a writable account."""
    return f"link:{link_id}"


def policy_of(session: Session, business_id: int) -> BlockingPolicy:
    """The business's blocking choices (kept on its provider connection), else the defaults."""
    connection = session.execute(select(GoogleConnection).where(
        GoogleConnection.business_id == business_id)).scalar_one_or_none()
    return BlockingPolicy.of(connection) if connection is not None else DEFAULT


def _uid_taken_by_booking(session: Session, calendar: Calendar, uid: str) -> bool:
    """Whether one of this calendar's bookings (cancelled too) has the UID. UIDs are scoped to
    the calendar (a CalDAV collection): what other calendars or businesses use is never looked
    at, so a PUT cannot learn about another tenant's items."""
    return session.execute(select(Booking.id).where(
        in_calendar(Booking, calendar), Booking.uid == uid)).first() is not None


def save_personal_event(session: Session, business_id: int, calendar_id: int,
                        event: PhoneEvent, now: dt.datetime, actor: str,
                        expect_seq: int | None = None,
                        collection: PersonalCalendar | None = None) -> BlockedTime:
    """Create or replace the personal event `event.uid` of the calendar (in its personal
    calendar `collection`, if given). `expect_seq`: the item's journal sequence when the
    request was checked (None: it did not exist)."""
    calendar = lock_calendar(session, business_id, calendar_id)
    item = session.execute(select(BlockedTime).where(
        BlockedTime.uid == event.uid, in_calendar(BlockedTime, calendar))
        .execution_options(populate_existing=True)).scalar_one_or_none()
    collection_id = collection.id if collection is not None else None
    if item is not None and item.collection_id != collection_id:
        raise ConflictError("this UID is already used by an event in another of this "
                            "employee's calendars; give the event a new UID",
                            precondition="C:no-uid-conflict")
    if (item.seq if item is not None else None) != expect_seq:
        raise StaleError("the item changed meanwhile; sync again")
    if item is None:
        if _uid_taken_by_booking(session, calendar, event.uid):
            raise ConflictError("this UID is already used by a booking of this calendar; give "
                                "the event a new UID", precondition="C:no-uid-conflict")
        if session.execute(select(PhoneTask.id).where(
                in_calendar(PhoneTask, calendar), PhoneTask.uid == event.uid)).first():
            raise ConflictError("this UID is already used by a task of this employee's "
                                "calendars; give the event a new UID",
                                precondition="C:no-uid-conflict")
        item = BlockedTime(business_id=business_id, calendar_id=calendar.id, uid=event.uid,
                           revision=0, created_at=now, collection_id=collection_id)
    elif item.source_text is None:
        raise ForbiddenError("this blocked time was made in the booking system; change it "
                             "there")
    else:
        item.revision += 1
    policy = policy_of(session, business_id)
    _set_facts(item, event.summary, event.all_day, event.tzid, event.start_local,
               event.end_local, event.start_utc, event.end_utc, event.zero_length)
    item.exdates = json.dumps(sorted({value.isoformat() for value in
                                      (*event.exdates, *event.replaced)}))
    if event.rrule:
        item.rrule, item.repeats = event.rrule, True
        item.series_end_utc = series_end(event.rrule, event.start_local,
                                         event.end_local - event.start_local, event.tzid)
    calendar_blocks = collection is None or collection.blocks
    item.blocks = calendar_blocks and blocks_of(event, item, policy)
    item.source_text = event.text
    item.updated_at = now
    if item.blocks:
        refuse_booked(session, calendar, item)
    if not item.repeats:
        widen_span(calendar, item.start_utc, item.end_utc)
    session.add(item)
    session.flush()
    item.seq = journal.record(session, calendar, "blocked", item.id, item.uid, "put", now,
                              actor=actor)
    _save_instances(session, calendar, item, event, now, actor, policy, calendar_blocks)
    return item


def blocks_of(event: PhoneEvent, item: BlockedTime, policy: BlockingPolicy) -> bool:
    """Whether `item` (the event, or an instance stored for it) blocks by its own TRANSP and
    STATUS (the blocking policy); something that takes no time never does."""
    if item.parent_id is None:
        return not event.zero_length and _blocks(event.status, event.transparency,
                                                 event.all_day, policy)
    for instance in event.instances:
        if instance_uid(item.calendar_id, event.uid, instance.key) == item.uid:
            return not instance.zero_length and _blocks(instance.status, instance.transparency,
                                                        instance.all_day, policy)
    return False


def _blocks(status: str, transparency: str, all_day: bool, policy: BlockingPolicy) -> bool:
    return blocks(status=status, transparency=transparency, event_type="default",
                  self_response="tentative" if status == "tentative" else None,
                  all_day=all_day, policy=policy)


def _set_facts(item: BlockedTime, summary: str, all_day: bool, tzid: str,
               start_local: dt.datetime, end_local: dt.datetime, start_utc: dt.datetime,
               end_utc: dt.datetime, zero_length: bool) -> None:
    """Title and times of a personal event or one of its instances. An event that takes no
    time (a date-time without DTEND) is kept one second long (a row's end follows its start)
    and blocks nothing."""
    if zero_length:
        end_utc, end_local = start_utc + ZERO_LENGTH, end_local + ZERO_LENGTH
    item.title = summary[:MAX_TITLE] or "Busy"
    item.all_day = all_day
    item.tzid = tzid
    item.start_local, item.end_local = start_local, end_local
    item.start_utc, item.end_utc = start_utc, end_utc
    item.rrule = None
    if end_utc - start_utc > MAX_LENGTH:
        # A long one-off event (a vacation, a year-long test event) is read like a series
        # without a rule (one occurrence up to series_end_utc): it never widens the calendar's
        # longest span, which bounds every range query.
        item.repeats, item.series_end_utc = True, end_utc
    else:
        item.repeats, item.series_end_utc = False, end_utc


def instance_uid(calendar_id: int, uid: str, key: str) -> str:
    """The UID of an instance stored for an override or RDATE of the event `uid`."""
    digest = hashlib.sha256(f"{calendar_id}/{uid}/{key}".encode()).hexdigest()[:40]
    return INSTANCE_PREFIX + digest


def _save_instances(session: Session, calendar: Calendar, parent: BlockedTime,
                    event: PhoneEvent, now: dt.datetime, actor: str,
                    policy: BlockingPolicy, calendar_blocks: bool) -> None:
    """Store the event's overridden instances and RDATEs at their own times (each blocks as its
    own TRANSP and STATUS say), replacing those of its previous version."""
    old = {child.uid: child for child in session.execute(select(BlockedTime).where(
        business_beside(BlockedTime, parent.business_id),
        BlockedTime.parent_id == parent.id)).scalars()}
    for instance in event.instances:
        uid = instance_uid(calendar.id, event.uid, instance.key)
        child = old.pop(uid, None)
        if child is None:
            child = BlockedTime(business_id=parent.business_id, calendar_id=calendar.id,
                                uid=uid, revision=0, created_at=now, parent_id=parent.id,
                                collection_id=parent.collection_id)
        else:
            child.revision += 1
        _set_facts(child, instance.summary, instance.all_day, instance.tzid,
                   instance.start_local, instance.end_local, instance.start_utc,
                   instance.end_utc, instance.zero_length)
        child.exdates = "[]"
        child.blocks = calendar_blocks and not instance.zero_length and _blocks(
            instance.status, instance.transparency, instance.all_day, policy)
        child.updated_at = now
        if child.blocks:
            refuse_booked(session, calendar, child)
        if not child.repeats:
            widen_span(calendar, child.start_utc, child.end_utc)
        session.add(child)
        session.flush()
        child.seq = journal.record(session, calendar, "blocked", child.id, child.uid, "put",
                                   now, actor=actor)
    for child in old.values():
        _remove(session, calendar, child, now, actor)


def _remove(session: Session, calendar: Calendar, item: BlockedTime, now: dt.datetime,
            actor: str) -> None:
    journal.record(session, calendar, "blocked", item.id, item.uid, "delete", now, actor=actor)
    forget_rendered(session, item, "blocked")
    session.delete(item)


def delete_personal_event(session: Session, business_id: int, item_id: int,
                          now: dt.datetime, actor: str, expect_seq: int | None = None) -> None:
    item = get_of(session, BlockedTime, business_id, item_id)
    if item is None:
        raise StaleError("the event changed meanwhile; sync again")
    calendar = lock_calendar(session, business_id, item.calendar_id)
    if not reread(session, item):
        raise StaleError("the event changed meanwhile; sync again")
    _expect(item.seq, expect_seq)
    if item.source_text is None:
        raise ForbiddenError("this blocked time was made in the booking system; remove it "
                             "there")
    for child in session.execute(select(BlockedTime).where(
            business_beside(BlockedTime, item.business_id),
            BlockedTime.parent_id == item.id)).scalars().all():
        _remove(session, calendar, child, now, actor)
    _remove(session, calendar, item, now, actor)


def _refuse_outside_hours(session: Session, calendar: Calendar, start: dt.datetime,
                          end: dt.datetime) -> None:
    """Refuse [start, end) unless it lies inside one of the calendar's open intervals (its
    weekly hours and exceptions)."""
    first = to_local(start, calendar.timezone).date() - dt.timedelta(days=1)
    last = to_local(end, calendar.timezone).date() + dt.timedelta(days=2)
    schedule = schedules.load(session, calendar, first, last)
    if not schedule.open_span(start, end):
        raise ConflictError("the new time is outside the opening hours: "
                            + describe(Reason(OUTSIDE_HOURS, start, end), calendar.timezone))


def _locked_booking(session: Session, business_id: int, booking_id: int,
                    expect_seq: int | None) -> Booking:
    booking = get_booking(session, business_id, booking_id)
    lock_calendar(session, business_id, booking.calendar_id)
    booking = get_booking(session, business_id, booking_id)  # re-read under the lock
    _expect(booking.seq, expect_seq)
    if booking.status != "confirmed":
        raise StaleError("the booking was cancelled meanwhile; sync again")
    return booking


def booking_seq(session: Session, business_id: int, booking_id: int) -> int:
    """The booking's journal sequence, read under its calendar's lock."""
    return _locked_booking(session, business_id, booking_id, None).seq


def move_booking(session: Session, business_id: int, booking_id: int, *, start: dt.datetime,
                 end: dt.datetime, now: dt.datetime, actor: str,
                 rules: AvailabilityConfig, expect_seq: int | None = None) -> Booking:
    """Reschedule a booking to [start, end) under the staff rules; ConflictError says why not.

    Every rule comes from what the business set, read here under the calendar's lock: the
    booking's service (its buffers, kept free around the new time and reaching no other
    booking's buffers), the calendar (its bookings, blocked and personal time, its opening
    hours), the business (`calendar_moves_within_hours`). `rules` is the configured
    `[availability]` a service without its own notice and horizon falls back on: an online
    booking is held to them as any reschedule of one (server/domain/bookings.update_booking).
    Callers pass the runtime's configuration: there is no default."""
    _locked_booking(session, business_id, booking_id, expect_seq)
    business = session.get(Business, business_id)
    booking = update_booking(session, business_id, booking_id, now=now, start=start, end=end,
                             actor=actor, rules=rules)
    if business is not None and business.calendar_moves_within_hours:
        calendar = session.get(Calendar, booking.calendar_id)
        assert calendar is not None
        _refuse_outside_hours(session, calendar, booking.start_utc, booking.end_utc)
    return booking


def keep_alarms(session: Session, business_id: int, link_id: int, booking_id: int,
                text: str) -> int:
    """Keep the alarms a writable account's phone added to a booking (for that account only);
    returns their version (0: none were ever kept). The caller holds the calendar's lock. A
    change advances the account's own position (links.alarm_seq), so its sync token and ctag
    move and the phone re-syncs the booking, while no other view of it changes."""
    row = session.get(AccountAlarm, (link_id, booking_id, business_id))
    if row is None:
        if not text:
            return 0
        row = AccountAlarm(business_id=business_id, link_id=link_id, booking_id=booking_id,
                           text=text, version=1)
        session.add(row)
    elif row.text != text:
        row.text = text
        row.version += 1
    else:
        return row.version
    row.seq = session.execute(update(Link).where(Link.id == link_id)
                              .values(alarm_seq=Link.alarm_seq + 1)
                              .returning(Link.alarm_seq)).scalar_one()
    session.flush()
    return row.version


def alarms_changed_since(session: Session, link_id: int, calendar_id: int, since: int
                         ) -> list[str]:
    """UIDs of the calendar's bookings whose alarms the account changed after its position
    `since` (an indexed range on account_alarms (link_id, seq))."""
    return list(session.execute(
        select(Booking.uid).join(AccountAlarm, AccountAlarm.booking_id == Booking.id)
        .where(AccountAlarm.link_id == link_id, AccountAlarm.seq > since,
               Booking.calendar_id == calendar_id)
        .order_by(AccountAlarm.seq)).scalars())


def cancel_from_phone(session: Session, business_id: int, booking_id: int, now: dt.datetime,
                      actor: str, expect_seq: int | None = None) -> Booking:
    """Cancel a booking deleted on a phone, when the business allows it."""
    business = session.get(Business, business_id)
    if business is None or not business.allow_cancel_from_calendar:
        raise ForbiddenError("this business does not let bookings be cancelled from a phone's "
                             "calendar; cancel it in the booking system")
    _locked_booking(session, business_id, booking_id, expect_seq)
    return update_booking(session, business_id, booking_id, now=now, status="cancelled",
                          actor=actor)
