"""Calendar links (ICS URLs) as busy sources: the sources, their read states, their events."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models.base import Base, ResumableRead, UTCDateTime


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


class IcsReadState(ResumableRead, Base):
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
