"""SQLAlchemy models of the booking database. Every row belongs to one business (tenant).

Instants are stored as naive UTC (`UTCDateTime` converts); bookings and blocked time also keep their
local wall-clock time and zone, so a future booking keeps its local time if DST rules change.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text,
    Time, TypeDecorator, UniqueConstraint, literal_column, or_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored naive in UTC on every engine."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is expected")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Installation-wide values, such as the database epoch (new on restore from backup)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


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
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Calendar(Base):
    """One employee's calendar. `journal_seq` is the per-calendar change counter, bumped in the
    writing transaction; `journal_floor` is the oldest sequence still answerable after pruning."""

    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("business_id", "slug"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
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
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"),
                                                  nullable=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    uid: Mapped[str] = mapped_column(String(64), unique=True)
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
    uid: Mapped[str] = mapped_column(String(64), index=True)
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
    item_uid: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Who made the change: "link:<id>" for a writable CalDAV account, NULL for the API, the
    # admin pages and the sync engine.
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Link(Base):
    """A private link: a secret token that shows a scope of calendars through one redaction
    profile. The token is stored as a keyed hash (for lookup) and encrypted (so that an admin can
    display the link again), never in plain text."""

    __tablename__ = "links"
    __table_args__ = (
        CheckConstraint("scope IN ('calendar', 'set', 'all')", name="link_scope"),
        CheckConstraint("profile IN ('full', 'limited', 'busy', 'slots')", name="link_profile"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    scope: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_encrypted: Mapped[str] = mapped_column(Text)
    # An alarm on the link's bookings, this many minutes before each starts (None: no alarm).
    reminder_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The service whose open slots a `slots` link shows (None for every other profile). No
    # foreign key: the link checks it against its business when it is set and when it is read.
    service_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # A writable link (one employee calendar, profile full): its CalDAV account may write.
    writable: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # A writable account's own change counter: bumped when its phone's alarms on a booking
    # change (account_alarms.seq), part of its sync token and ctag (no journal entry: the
    # booking itself did not change).
    alarm_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class LinkCalendar(Base):
    """The calendars of a link whose scope is one calendar or a chosen set."""

    __tablename__ = "link_calendars"
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"),
                                         primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"),
                                             primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)


class AccountAlarm(Base):
    """The alarms a writable account's phone added to one of our bookings: kept for that
    account (served back to it only), never on the booking. `version` changes its ETag."""

    __tablename__ = "account_alarms"
    __table_args__ = (Index("ix_account_alarms_link_seq", "link_id", "seq"),)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"),
                                         primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"),
                                            primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The link's alarm_seq when this row last changed: what a sync since a position lists.
    seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class PersonalCalendar(Base):
    """A calendar a writable account made (MKCALENDAR) beside its employee's calendar: its
    events are the employee's personal events (blocked_times.collection_id), shown through
    redaction in the employee's other links; `blocks` says whether they block booking."""

    __tablename__ = "personal_calendars"
    __table_args__ = (UniqueConstraint("calendar_id", "slug", "business_id",
                                       name="uq_personal_calendar_slug"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    blocks: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Its CalDAV calendar-color, "#RRGGBB" or "#RRGGBBAA" as the phone sent it (None: removed,
    # then it shows none); made with its employee calendar's colour unless the phone chose.
    colour: Mapped[str | None] = mapped_column(String(9), nullable=True)
    # Who made it ("link:<id>").
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CalendarEditRefusal(Base):
    """An edit made in a provider's calendar to our copy of a booking that the booking rules
    refused (the copy was written again): shown in the provider's status and the admin page.
    The newest few per business are kept."""

    __tablename__ = "calendar_edit_refusals"
    __table_args__ = (Index("ix_edit_refusals_business_id", "business_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    booking_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(8))  # "move" or "cancel"
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RenderedItem(Base):
    """An item's iCalendar text for one profile, as of journal sequence `seq` and renderer
    `version`: rendered once on first read, served many times. The item's business is part of
    the key (the distribution column of a sharded cluster, docs/scaling.md)."""

    __tablename__ = "rendered_items"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile: Mapped[str] = mapped_column(String(16), primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)


class GoogleConnection(Base):
    """The one Google account a business connects, its settings and its health. The refresh
    token is stored encrypted (versioned keys) and never logged."""

    __tablename__ = "google_connections"
    __table_args__ = (
        CheckConstraint("direction IN ('both', 'to_google', 'from_google')",
                        name="google_direction"),
        CheckConstraint("status IN ('connected', 'needs_reconnect', 'paused')",
                        name="google_status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             unique=True)
    account_email: Mapped[str] = mapped_column(String(320), default="")
    refresh_token_encrypted: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="connected")
    direction: Mapped[str] = mapped_column(String(16), default="both")
    hide_client_details: Mapped[bool] = mapped_column(Boolean, default=False)
    block_online_booking: Mapped[bool] = mapped_column(Boolean, default=False)
    reminders: Mapped[bool] = mapped_column(Boolean, default=False)
    # The business's blocking choices (server/domain/blocking.py); on keeps the default rules.
    block_out_of_office: Mapped[bool] = mapped_column(Boolean, default=True)
    block_tentative: Mapped[bool] = mapped_column(Boolean, default=True)
    block_all_day: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped when a setting changes what the copies show: every copy is rewritten.
    copy_version: Mapped[int] = mapped_column(Integer, default=1)
    paused_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Work leases: one bridge process works a connection at a time.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GoogleOAuthState(Base):
    """A consent in progress: the state (stored hashed) binds the callback to the business, the
    PKCE verifier is kept encrypted until the code is exchanged."""

    __tablename__ = "google_oauth_states"
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    verifier_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GoogleCalendarMap(Base):
    """An employee calendar taking part: the Google calendar it writes its copies to and the
    one it reads from (often the same), and how far its journal has been sent."""

    __tablename__ = "google_calendar_maps"
    __table_args__ = (UniqueConstraint("connection_id", "calendar_id", "business_id",
                                       name="uq_google_calendar_maps_connection_calendar"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("google_connections.id", ondelete="CASCADE"), index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    write_calendar: Mapped[str] = mapped_column(String(1024))
    read_calendar: Mapped[str] = mapped_column(String(1024))
    sent_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last failure writing to write_calendar alone (server/sync/calendar_errors.py).
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Writes failing on this calendar alone back off: consecutive failures, and no write to
    # it before retry_at (server/sync/calendar_errors.py).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class GoogleReadState(Base):
    """Incremental sync state of one Google calendar read by a connection."""

    __tablename__ = "google_read_states"
    __table_args__ = (UniqueConstraint("connection_id", "google_calendar", "business_id",
                                       name="uq_google_read_states_remote"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("google_connections.id", ondelete="CASCADE"), index=True)
    google_calendar: Mapped[str] = mapped_column(String(1024))
    sync_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    channel_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel_resource: Mapped[str | None] = mapped_column(String(256), nullable=True)
    channel_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set by a push notification: the bridge syncs this calendar on its next look.
    pull_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Longest span (seconds) of any event mirrored from this calendar: bounds availability's
    # range reads of mirrored events, as Calendar.max_span_seconds does for bookings.
    max_span_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The last failure reading this calendar alone (server/sync/calendar_errors.py).
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class GoogleCopy(Base):
    """Our copy of a booking or blocked time in Google: its deterministic event id and what
    was last sent, so a retry never duplicates and an edit made in Google is noticed."""

    __tablename__ = "google_copies"
    __table_args__ = (UniqueConstraint("connection_id", "kind", "item_id", "business_id",
                                       name="uq_google_copies_item"),
                      UniqueConstraint("connection_id", "event_id", "business_id",
                                       name="uq_google_copies_event"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("google_connections.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[int] = mapped_column(Integer)
    google_calendar: Mapped[str] = mapped_column(String(1024))
    event_id: Mapped[str] = mapped_column(String(128))
    sent_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    sent_version: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(String(128), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    restored_count: Mapped[int] = mapped_column(Integer, default=0)
    last_restored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class GoogleWriteError(Base):
    """A booking or blocked time whose write to Google failed on its own (a part of a batch
    answered 400, or kept failing): what went wrong, and when it is tried again. Kept until a
    write of it succeeds or it no longer needs one (server/sync/item_errors.py)."""

    __tablename__ = "google_write_errors"
    __table_args__ = (UniqueConstraint("connection_id", "kind", "item_id", "business_id",
                                       name="uq_google_write_errors_item"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("google_connections.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[int] = mapped_column(Integer)
    # The item's journal sequence when it failed: a later change of it is tried at once.
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    failures: Mapped[int] = mapped_column(Integer, default=1)
    first_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retry_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MirroredEvent(Base):
    """A Google event (an instance, for repeating ones) as seen by the system. `blocks` is the
    bridge's one blocking policy applied at import; availability reads it."""

    __tablename__ = "mirrored_events"
    __table_args__ = (UniqueConstraint("connection_id", "google_calendar", "event_id",
                                       "business_id", name="uq_mirrored_events_event"),
                      Index("ix_mirrored_connection_calendar_start", "connection_id",
                            "google_calendar", "start_utc"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("google_connections.id", ondelete="CASCADE"), index=True)
    google_calendar: Mapped[str] = mapped_column(String(1024))
    event_id: Mapped[str] = mapped_column(String(1024))
    recurring_event_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    start_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    transparency: Mapped[str] = mapped_column(String(16), default="opaque")
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    event_type: Mapped[str] = mapped_column(String(32), default="default")
    self_response: Mapped[str | None] = mapped_column(String(16), nullable=True)
    blocks: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AdminUser(Base):
    """A person who signs in to the admin pages of one business. The password is kept as an
    argon2id hash only."""

    __tablename__ = "admin_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AdminSession(Base):
    """A signed-in browser. The cookie holds a random token; only its keyed hash is stored, so
    a copy of the database opens no session. Deleting the row signs the browser out."""

    __tablename__ = "admin_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"),
                                         index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# Microsoft Graph (Microsoft 365 / Outlook.com): the same bookkeeping as Google's, in tables of
# its own so each keeps its foreign keys and cascades. The sync engine reaches either set
# through server/sync/tables.py; the column names are the engine's (`google_calendar` holds
# the remote calendar's id, `sync_token` the read cursor, `event_id` the remote event's id, as
# in the Google tables, where the engine began).


class MicrosoftConnection(Base):
    """The one Microsoft account (work or personal) a business connects, its settings and its
    health. The refresh token is stored encrypted (versioned keys) and never logged."""

    __tablename__ = "microsoft_connections"
    __table_args__ = (
        CheckConstraint("direction IN ('both', 'to_microsoft', 'from_microsoft')",
                        name="microsoft_direction"),
        CheckConstraint("status IN ('connected', 'needs_reconnect', 'paused')",
                        name="microsoft_status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             unique=True)
    account_email: Mapped[str] = mapped_column(String(320), default="")
    refresh_token_encrypted: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="connected")
    direction: Mapped[str] = mapped_column(String(16), default="both")
    hide_client_details: Mapped[bool] = mapped_column(Boolean, default=False)
    block_online_booking: Mapped[bool] = mapped_column(Boolean, default=False)
    reminders: Mapped[bool] = mapped_column(Boolean, default=False)
    block_out_of_office: Mapped[bool] = mapped_column(Boolean, default=True)
    block_tentative: Mapped[bool] = mapped_column(Boolean, default=True)
    block_all_day: Mapped[bool] = mapped_column(Boolean, default=True)
    copy_version: Mapped[int] = mapped_column(Integer, default=1)
    paused_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MicrosoftOAuthState(Base):
    """A consent in progress: the state (stored hashed) binds the callback to the business;
    MSAL's auth-code flow (its PKCE verifier and nonce) is kept encrypted until the code is
    exchanged."""

    __tablename__ = "microsoft_oauth_states"
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    flow_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MicrosoftCalendarMap(Base):
    """An employee calendar taking part with Microsoft: the Outlook calendar it writes its
    copies to, the one it reads from, and how far its journal has been sent."""

    __tablename__ = "microsoft_calendar_maps"
    __table_args__ = (UniqueConstraint("connection_id", "calendar_id", "business_id",
                                       name="uq_microsoft_calendar_maps_connection_calendar"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("microsoft_connections.id", ondelete="CASCADE"), index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    write_calendar: Mapped[str] = mapped_column(String(1024))
    read_calendar: Mapped[str] = mapped_column(String(1024))
    sent_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MicrosoftReadState(Base):
    """Delta-read state of one Outlook calendar read by a connection: the cursor (its
    calendarView window and delta link) and its change-notification subscription."""

    __tablename__ = "microsoft_read_states"
    __table_args__ = (UniqueConstraint("connection_id", "google_calendar", "business_id",
                                       name="uq_microsoft_read_states_remote"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("microsoft_connections.id", ondelete="CASCADE"), index=True)
    google_calendar: Mapped[str] = mapped_column(String(1024))
    sync_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    channel_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pull_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    max_span_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MicrosoftCopy(Base):
    """Our copy of a booking or blocked time in Outlook: Graph's event id (chosen by Graph;
    `copy_key`, our deterministic transactionId, makes creates idempotent) and what was last
    sent."""

    __tablename__ = "microsoft_copies"
    __table_args__ = (UniqueConstraint("connection_id", "kind", "item_id", "business_id",
                                       name="uq_microsoft_copies_item"),
                      UniqueConstraint("connection_id", "event_id", "business_id",
                                       name="uq_microsoft_copies_event"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("microsoft_connections.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[int] = mapped_column(Integer)
    google_calendar: Mapped[str] = mapped_column(String(1024))
    event_id: Mapped[str] = mapped_column(String(512))
    sent_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    sent_version: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(String(128), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    restored_count: Mapped[int] = mapped_column(Integer, default=0)
    last_restored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MicrosoftWriteError(Base):
    """A write to Outlook that failed on its own (server/sync/item_errors.py)."""

    __tablename__ = "microsoft_write_errors"
    __table_args__ = (UniqueConstraint("connection_id", "kind", "item_id", "business_id",
                                       name="uq_microsoft_write_errors_item"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("microsoft_connections.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    failures: Mapped[int] = mapped_column(Integer, default=1)
    first_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retry_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MicrosoftMirroredEvent(Base):
    """An Outlook event (an occurrence, for repeating ones) as seen by the system, in the
    mirror's vocabulary (MirroredEvent's): `blocks` is the blocking policy applied at import."""

    __tablename__ = "microsoft_mirrored_events"
    __table_args__ = (UniqueConstraint("connection_id", "google_calendar", "event_id",
                                       "business_id", name="uq_microsoft_mirrored_events_event"),
                      Index("ix_ms_mirrored_connection_calendar_start", "connection_id",
                            "google_calendar", "start_utc"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("microsoft_connections.id", ondelete="CASCADE"), index=True)
    google_calendar: Mapped[str] = mapped_column(String(1024))
    event_id: Mapped[str] = mapped_column(String(1024))
    recurring_event_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    start_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    transparency: Mapped[str] = mapped_column(String(16), default="opaque")
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    event_type: Mapped[str] = mapped_column(String(32), default="default")
    self_response: Mapped[str | None] = mapped_column(String(16), nullable=True)
    blocks: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class IcsSource(Base):
    """An ICS URL an employee calendar subscribes to as a read-only busy source (the sync
    engine's "connection" of the ICS adapter, server/ics/): the URL stored encrypted (an
    Outlook "publish" link carries a token), only its host in plain text for messages; the
    blocking choices, the polling interval and the health, leases and errors the engine
    keeps on every provider's connection rows."""

    __tablename__ = "ics_sources"
    __table_args__ = (
        CheckConstraint("status IN ('connected', 'needs_reconnect', 'paused')",
                        name="ics_status"),
        Index("ix_ics_sources_next_poll", "status", "next_poll_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"),
                                             index=True)
    url_encrypted: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="connected")
    direction: Mapped[str] = mapped_column(String(16), default="from_ics")
    block_online_booking: Mapped[bool] = mapped_column(Boolean, default=True)
    block_out_of_office: Mapped[bool] = mapped_column(Boolean, default=True)
    block_tentative: Mapped[bool] = mapped_column(Boolean, default=True)
    block_all_day: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    feed_interval_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    next_poll_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paused_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class IcsReadState(Base):
    """The read state of one ICS source (one row, calendar "feed"): the cursor (ETag,
    Last-Modified, the body's digest and the day the recurrences were expanded) and the last
    good read's time; a failed fetch records its error here and keeps the mirrored copy."""

    __tablename__ = "ics_read_states"
    __table_args__ = (UniqueConstraint("connection_id", "google_calendar", "business_id",
                                       name="uq_ics_read_states_remote"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("ics_sources.id", ondelete="CASCADE"), index=True)
    google_calendar: Mapped[str] = mapped_column(String(64))
    sync_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pull_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    max_span_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IcsMirroredEvent(Base):
    """An event of a subscribed ICS feed (an occurrence, for repeating ones) in the mirror's
    vocabulary (MirroredEvent's): `blocks` is the blocking policy applied at import."""

    __tablename__ = "ics_mirrored_events"
    __table_args__ = (UniqueConstraint("connection_id", "google_calendar", "event_id",
                                       "business_id", name="uq_ics_mirrored_events_event"),
                      Index("ix_ics_mirrored_connection_calendar_start", "connection_id",
                            "google_calendar", "start_utc"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("ics_sources.id", ondelete="CASCADE"), index=True)
    google_calendar: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(1024))
    recurring_event_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    start_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    transparency: Mapped[str] = mapped_column(String(16), default="opaque")
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    event_type: Mapped[str] = mapped_column(String(32), default="default")
    self_response: Mapped[str | None] = mapped_column(String(16), nullable=True)
    blocks: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
class SyncAlert(Base):
    """A sync problem of one connection or one of its calendars as the admins hear of it: seen
    first at `first_seen_at`, e-mailed (and sent to the webhook) at `notified_at`, gone at
    `resolved_at`, its recovery told at `recovered_sent_at`. One open row per problem: no
    repeat until the state changes."""

    __tablename__ = "sync_alerts"
    __table_args__ = (Index("ix_sync_alerts_open", "resolved_at", "provider", "connection_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    provider: Mapped[str] = mapped_column(String(32))
    connection_id: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(1100))  # "connection" or the remote calendar
    problem: Mapped[str] = mapped_column(String(32))  # needs_reconnecting or failing
    detail: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recovered_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # An e-mail that could not be sent is tried again at retry_at (backoff), a few times.
    mail_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Its webhook events are queued once each, whatever the e-mail does.
    problem_queued: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    recovery_queued: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class WebhookDelivery(Base):
    """One event for the booking system's webhook: its signed body, retried with backoff until
    delivered or `webhook.max_attempts` attempts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "delivered_at", "gave_up_at",
                            "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    event: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    gave_up_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookAttempt(Base):
    """Each attempt to deliver a webhook event: when, the HTTP status or the error."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class SyncJob(Base):
    """An installation-wide job of the bridge (the health notifier), leased like a connection
    (server/sync/leases.py) so that one process runs it at a time."""

    __tablename__ = "sync_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SyncFullRead(Base):
    """When a remote calendar was last read in full (server/sync/full_reads.py): a change
    feed misses events now and then, so each calendar is read in full every week and the
    mirror reconciled. `read_table` names the provider's read-state table."""

    __tablename__ = "sync_full_reads"
    __table_args__ = (UniqueConstraint("read_table", "read_state_id", "business_id",
                                       name="uq_sync_full_reads_state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    read_table: Mapped[str] = mapped_column(String(64))
    read_state_id: Mapped[int] = mapped_column(Integer)
    full_read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# CalDAV (iCloud, Fastmail, Nextcloud, any CalDAV server): the same bookkeeping as Microsoft's,
# in tables of its own. Unlike Google and Microsoft, a business may connect several CalDAV
# accounts (each employee their own phone's calendar), so a connection is not unique per
# business; each employee calendar takes part with at most one CalDAV account. `google_calendar`
# holds the remote calendar collection's URL, `event_id` a resource's name (`abc.ics`), or
# `<name>#<recurrence id>` for an occurrence of a repeating event.


class CalDAVConnection(Base):
    """One CalDAV account of a business: where its calendars live (the calendar home found by
    discovery), the user name and the app password (encrypted, versioned keys, never logged),
    its settings and its health."""

    __tablename__ = "caldav_connections"
    __table_args__ = (
        CheckConstraint("direction IN ('both', 'to_caldav', 'from_caldav')",
                        name="caldav_direction"),
        CheckConstraint("status IN ('connected', 'needs_reconnect', 'paused')",
                        name="caldav_status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    server_url: Mapped[str] = mapped_column(String(1024))  # as the admin typed it
    home_url: Mapped[str] = mapped_column(String(1024))  # the calendar-home-set found
    username: Mapped[str] = mapped_column(String(320))
    password_encrypted: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="connected")
    direction: Mapped[str] = mapped_column(String(16), default="both")
    hide_client_details: Mapped[bool] = mapped_column(Boolean, default=False)
    block_online_booking: Mapped[bool] = mapped_column(Boolean, default=True)
    reminders: Mapped[bool] = mapped_column(Boolean, default=False)
    block_out_of_office: Mapped[bool] = mapped_column(Boolean, default=True)
    block_tentative: Mapped[bool] = mapped_column(Boolean, default=True)
    block_all_day: Mapped[bool] = mapped_column(Boolean, default=True)
    copy_version: Mapped[int] = mapped_column(Integer, default=1)
    # Seconds between reads of its calendars; None: caldav.poll_seconds (within the bounds).
    poll_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    paused_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CalDAVCalendarMap(Base):
    """An employee calendar taking part with a CalDAV account: the calendar collection it
    writes its copies to, the one it reads, and how far its journal has been sent."""

    __tablename__ = "caldav_calendar_maps"
    __table_args__ = (UniqueConstraint("connection_id", "calendar_id", "business_id",
                                       name="uq_caldav_calendar_maps_connection_calendar"),
                      UniqueConstraint("calendar_id", "business_id",
                                       name="uq_caldav_calendar_maps_calendar"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("caldav_connections.id", ondelete="CASCADE"), index=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    write_calendar: Mapped[str] = mapped_column(String(1024))
    read_calendar: Mapped[str] = mapped_column(String(1024))
    sent_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CalDAVReadState(Base):
    """Read state of one calendar collection: the cursor (a sync-collection token, or the
    ETags of the last listing where the server has no sync-collection) and how it is read."""

    __tablename__ = "caldav_read_states"
    __table_args__ = (UniqueConstraint("connection_id", "google_calendar", "business_id",
                                       name="uq_caldav_read_states_remote"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("caldav_connections.id", ondelete="CASCADE"), index=True)
    google_calendar: Mapped[str] = mapped_column(String(1024))
    sync_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pull_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    max_span_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CalDAVCopy(Base):
    """Our copy of a booking or blocked time in a CalDAV calendar: the resource name we chose
    (deterministic) and what was last sent."""

    __tablename__ = "caldav_copies"
    __table_args__ = (UniqueConstraint("connection_id", "kind", "item_id", "business_id",
                                       name="uq_caldav_copies_item"),
                      UniqueConstraint("connection_id", "event_id", "business_id",
                                       name="uq_caldav_copies_event"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("caldav_connections.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[int] = mapped_column(Integer)
    google_calendar: Mapped[str] = mapped_column(String(1024))
    event_id: Mapped[str] = mapped_column(String(512))
    sent_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    sent_version: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(String(256), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    restored_count: Mapped[int] = mapped_column(Integer, default=0)
    last_restored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CalDAVWriteError(Base):
    """A write to a CalDAV calendar that failed on its own (server/sync/item_errors.py)."""

    __tablename__ = "caldav_write_errors"
    __table_args__ = (UniqueConstraint("connection_id", "kind", "item_id", "business_id",
                                       name="uq_caldav_write_errors_item"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("caldav_connections.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    failures: Mapped[int] = mapped_column(Integer, default=1)
    first_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retry_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CalDAVMirroredEvent(Base):
    """A CalDAV event (an occurrence, for repeating ones) as seen by the system, in the
    mirror's vocabulary (MirroredEvent's): `blocks` is the blocking policy applied at import."""

    __tablename__ = "caldav_mirrored_events"
    __table_args__ = (UniqueConstraint("connection_id", "google_calendar", "event_id",
                                       "business_id", name="uq_caldav_mirrored_events_event"),
                      Index("ix_caldav_mirrored_connection_calendar_start", "connection_id",
                            "google_calendar", "start_utc"),
                      Index("ix_caldav_mirrored_connection_series", "connection_id",
                            "google_calendar", "recurring_event_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             index=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("caldav_connections.id", ondelete="CASCADE"), index=True)
    google_calendar: Mapped[str] = mapped_column(String(1024))
    event_id: Mapped[str] = mapped_column(String(1024))
    recurring_event_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    start_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    transparency: Mapped[str] = mapped_column(String(16), default="opaque")
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    event_type: Mapped[str] = mapped_column(String(32), default="default")
    self_response: Mapped[str | None] = mapped_column(String(16), nullable=True)
    blocks: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# The health notifier (server/sync/alerts.py) reads only the rows with a problem: these partial
# indexes hold just those rows, so its reads do not grow with the number of healthy
# connections and calendars. Their predicates are literal: a query's WHERE must repeat them.
NEEDS_RECONNECT_SQL = "'needs_reconnect'"


def _problem_indexes() -> None:
    for connection in (GoogleConnection, MicrosoftConnection, CalDAVConnection, IcsSource):
        where = or_(connection.__table__.c.status == literal_column(NEEDS_RECONNECT_SQL),
                    connection.__table__.c.last_error.is_not(None))
        Index(f"ix_{connection.__tablename__}_problems", connection.__table__.c.id,
              sqlite_where=where, postgresql_where=where)
    for table in (GoogleReadState, MicrosoftReadState, CalDAVReadState, IcsReadState,
                  GoogleCalendarMap, MicrosoftCalendarMap, CalDAVCalendarMap):
        failing = table.__table__.c.last_error.is_not(None)
        Index(f"ix_{table.__tablename__}_failing", table.__table__.c.connection_id,
              sqlite_where=failing, postgresql_where=failing)
    # Alerts whose recovery is not told yet, and whose e-mail failed: few, whatever the history.
    alerts = SyncAlert.__table__.c
    untold = alerts.recovered_sent_at.is_(None)
    Index("ix_sync_alerts_untold", alerts.id, sqlite_where=untold, postgresql_where=untold)
    undelivered = alerts.mail_failures > literal_column("0")
    Index("ix_sync_alerts_undelivered", alerts.business_id, sqlite_where=undelivered,
          postgresql_where=undelivered)


_problem_indexes()
