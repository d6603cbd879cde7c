"""CalDAV (iCloud, Fastmail, Nextcloud, any CalDAV server) bookkeeping, the same shape as Microsoft's."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text,
    UniqueConstraint, false,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models.base import Base, ResumableRead, SeenCopy, UTCDateTime


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
    # The principal's calendar user addresses (JSON list, server/caldav/owner.py); None: not
    # discovered (connected before they were, or the server lacks the property).
    addresses: Mapped[str | None] = mapped_column(Text, nullable=True)
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


class CalDAVReadState(ResumableRead, Base):
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


class CalDAVCopy(SeenCopy, Base):
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


class CalDAVFormerConnection(Base):
    """The row id of a CalDAV connection that was forgotten (disconnected), kept under a keyed
    hash of its account in the business (never the user name): copies named by the former
    scheme, keyed by that row (server/caldav/copies.py), are recognised when the same account
    is connected again under a new row (server/caldav/former_rows.py, a bounded number per
    account). Deleted with the business."""

    __tablename__ = "caldav_former_connections"
    __table_args__ = (UniqueConstraint("business_id", "owner_hash", "connection_id",
                                       name="uq_caldav_former_connections_row"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    owner_hash: Mapped[str] = mapped_column(String(64))  # copies.owner_hash: hex, keyed
    connection_id: Mapped[int] = mapped_column(Integer)  # the forgotten row's id (no key)
    forgotten_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


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
    # The engine stopped trying (an error that says so, after its attempts): the item is
    # written again only when it changes (server/sync/item_errors.py).
    gave_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
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
