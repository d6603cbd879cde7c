"""Test doubles for external services (fake Google Calendar API v3 + OAuth 2.0)."""

from __future__ import annotations

from .google_fake import FakeGoogle
from .google_faults import FaultKind
from .google_time import FakeClock

__all__ = ["FakeClock", "FakeGoogle", "FaultKind"]
