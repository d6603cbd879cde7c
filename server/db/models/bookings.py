"""Businesses and what they book: API keys, employee calendars, clients, services, bookings,
blocked time, opening hours and the change journal."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String,
    Text, Time, UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.models.base import Base, UTCDateTime


class Business(Base):
    __tablename__ = "businesses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Whether deleting a booking on a writable CalDAV account (a phone) cancels it.
    allow_cancel_from_calendar: Mapped[bool] = mapped_column(Boolean, default=False,
                                                             server_default="0")
    # Whether a booking moved on a phone must also fall within the calendar's opening hours.
    calendar_moves_within_hours: Mapped[bool] = mapped_column(Boolean, default=False,
                                                              server_default="0")
    # What online booking does with a calendar whose blocking source is stale or disconnected:
    # offer (with a warning), hide (no slot), recheck (ask the provider live before booking).
    stale_policy: Mapped[str] = mapped_column(String(16), default="offer",
                                              server_default="offer")
    # Edits made in Google/Outlook to our copies of bookings: "rewrite" them (the booking
    # system stays the truth) or "apply" them (a move is a reschedule, a delete a cancel, when
    # the rules allow; else rewritten, the refusal kept in calendar_edit_refusals).
    edits_from_calendars: Mapped[str] = mapped_column(String(8), default="rewrite",
                                                      server_default="rewrite")
    # A live check before an online booking reads a source whose mirror is older than this
    # (seconds); None: availability.live_check_max_age_seconds. A stale source is always read.
    live_check_max_age_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiKey(Base):
    """A per-business API key, stored as its keyed hash only."""

    __tablename__ = "api_keys"
    # The hash is unique in the installation by the key directory (server/db/key_directory.py).
    __table_args__ = (UniqueConstraint("key_hash", "business_id", name="uq_api_keys_key_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Calendar(Base):
    """One employee's calendar. `journal_seq` is the per-calendar change counter, bumped in the
    writing transaction; `journal_floor` is the oldest sequence still answerable after pruning."""

    __tablename__ = "calendars"
    # A random UID, unique within its business: nothing looks a calendar up by UID alone.
    __table_args__ = (UniqueConstraint("business_id", "slug"),
                      UniqueConstraint("uid", "business_id", name="uq_calendars_uid"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    uid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    colour: Mapped[str] = mapped_column(String(7), default="#3a87ad")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    journal_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    journal_floor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Longest occupied span (seconds) of any booking or one-off blocked time ever written here:
    # bounds range queries so an index range scan replaces a scan of the calendar's history.
    max_span_seconds: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # When the journal last recorded a change (Last-Modified of feeds); NULL before 0002.
    changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set while bookings still have to be re-published after a rename: the last booking id done.
    republish_after: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Client(Base):
    """A client of the business. Every field except the id is sensitive."""

    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Service(Base):
    __tablename__ = "services"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    name: Mapped[str] = mapped_column(String(200))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    buffer_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Set while bookings still have to be re-published after a rename: the last booking id done.
    republish_after: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Online booking rules; NULL takes the [availability] default of the configuration.
    slot_step_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_notice_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_horizon_days: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Booking(Base):
    """An appointment. `occupied_*` is the interval including the service's buffers, the one that
    must not overlap; on PostgreSQL an exclusion constraint enforces it for confirmed bookings."""

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("end_utc > start_utc", name="booking_positive_length"),
        CheckConstraint("status IN ('confirmed', 'cancelled')", name="booking_status"),
        CheckConstraint("source IN ('staff', 'online')", name="booking_source"),
        # Covers a CalDAV listing of a calendar (server/publishing/davfast/rows.py): id, UID and sequence
        # of its confirmed bookings read from the index alone, no lookup per booking.
        Index("ix_bookings_calendar_start", "calendar_id", "start_utc", "id", "status", "uid",
              "seq"),
        Index("ix_bookings_calendar_occupied", "calendar_id", "occupied_start_utc"),
        Index("ix_bookings_client", "client_id"),
        Index("ix_bookings_business_start", "business_id", "start_utc"),
        # A random UID, unique within its business: every lookup by UID knows the calendar.
        UniqueConstraint("uid", "business_id", name="uq_bookings_uid"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"),
                                                  nullable=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    uid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    source: Mapped[str] = mapped_column(String(16), default="staff")
    start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    occupied_start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    occupied_end_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    tzid: Mapped[str] = mapped_column(String(64))
    start_local: Mapped[dt.datetime] = mapped_column(DateTime)
    end_local: Mapped[dt.datetime] = mapped_column(DateTime)
    # A date-only booking (a course day): local midnight to local midnight, end exclusive.
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    client: Mapped[Client | None] = relationship(lazy="raise")
    service: Mapped[Service] = relationship(lazy="raise")


class BlockedTime(Base):
    """An employee's personal busy time (no client), optionally repeating by an RRULE evaluated in
    local wall-clock time; `exdates` lists excluded occurrence starts (local ISO, JSON array)."""

    __tablename__ = "blocked_times"
    __table_args__ = (
        CheckConstraint("end_utc > start_utc", name="blocked_positive_length"),
        # A UID is unique within its calendar (a CalDAV collection), not across calendars or
        # businesses: a phone's PUT can never learn whether another tenant uses a UID.
        UniqueConstraint("calendar_id", "uid", "business_id", name="uq_blocked_calendar_uid"),
        Index("ix_blocked_calendar_start", "calendar_id", "start_utc"),
        Index("ix_blocked_calendar_series", "calendar_id", "repeats", "series_end_utc"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    # A phone's UID as sent (server/domain/resource_names.py MAX_UID), or one we made.
    uid: Mapped[str] = mapped_column(String(255), index=True)
    title: Mapped[str] = mapped_column(String(200), default="Blocked")
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    tzid: Mapped[str] = mapped_column(String(64))
    start_local: Mapped[dt.datetime] = mapped_column(DateTime)
    end_local: Mapped[dt.datetime] = mapped_column(DateTime)
    start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    rrule: Mapped[str | None] = mapped_column(Text, nullable=True)
    exdates: Mapped[str] = mapped_column(Text, default="[]")
    repeats: Mapped[bool] = mapped_column(Boolean, default=False)
    # End of the last occurrence for a bounded series; NULL for an endless one.
    series_end_utc: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # A personal event written by a phone (a writable link): the client's iCalendar text as
    # sent, served back to that account only; every other view is rendered through redaction.
    source_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Whether it blocks online booking (the blocking policy applied at write); blocked time
    # made through the API always does.
    blocks: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # An overridden instance or RDATE of a phone's event (that event's id): stored at its own
    # times so it blocks there; shown to other links, hidden from the writable account (its
    # phone has it inside the event's own text). No foreign key: written and removed with it.
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # The personal calendar (personal_calendars.id) a phone put it in; None: the employee's
    # calendar itself. No foreign key: written and removed with it.
    collection_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class OpeningHours(Base):
    """One open interval of a calendar's weekly schedule (weekday 0 = Monday), local time."""

    __tablename__ = "opening_hours"
    __table_args__ = (CheckConstraint("weekday BETWEEN 0 AND 6", name="opening_weekday"),
                      CheckConstraint("closes > opens", name="opening_positive"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"),
                                             index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[dt.time] = mapped_column(Time)
    closes: Mapped[dt.time] = mapped_column(Time)


class OpeningException(Base):
    """A date whose hours differ from the weekly schedule: closed (no times) or open opens-closes.
    Several rows for one date give several intervals."""

    __tablename__ = "opening_exceptions"
    __table_args__ = (Index("ix_opening_exceptions_calendar_day", "calendar_id", "day"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    opens: Mapped[dt.time | None] = mapped_column(Time, nullable=True)
    closes: Mapped[dt.time | None] = mapped_column(Time, nullable=True)
    note: Mapped[str] = mapped_column(String(200), default="")


class JournalEntry(Base):
    """The change journal: one row per change of anything a calendar shows, numbered by the
    calendar's own counter. action "delete" is the tombstone."""

    __tablename__ = "journal"
    __table_args__ = (UniqueConstraint("calendar_id", "seq", "business_id",
                                       name="uq_journal_calendar_seq"),
                      Index("ix_journal_created", "created_at"),
                      CheckConstraint("action IN ('put', 'delete')", name="journal_action"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    item_uid: Mapped[str] = mapped_column(String(255))  # as long as any item's UID
    action: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Who made the change: "link:<id>" for a writable CalDAV account, NULL for the API, the
    # admin pages and the sync engine.
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
