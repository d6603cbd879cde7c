"""Sync health and the engine's jobs: alerts, webhook deliveries and attempts, jobs, full re-reads."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models.base import Base, UTCDateTime


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
