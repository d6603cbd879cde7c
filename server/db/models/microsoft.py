"""Microsoft Graph's (Microsoft 365 / Outlook.com) bookkeeping, the same shape as Google's."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text,
    UniqueConstraint, false,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models.base import Base, ResumableRead, SeenCopy, UTCDateTime


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
    # The hash is unique in the installation by the key directory (server/db/key_directory.py).
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)
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


class MicrosoftReadState(ResumableRead, Base):
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


class MicrosoftCopy(SeenCopy, Base):
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
    # The engine stopped trying (an error that says so, after its attempts): the item is
    # written again only when it changes (server/sync/item_errors.py).
    gave_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
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
