"""Revision 0004 on a database that already mirrors Google events: each read calendar's longest
mirrored span is computed once, so availability's range reads are bounded from the start."""

from __future__ import annotations

from sqlalchemy import text

from server.db.engine import engine_for
from server.db.migrate import upgrade

NAIVE_NOW = "2026-11-24 08:00:00"


def test_longest_span_of_events_mirrored_before_the_upgrade(database_url: str) -> None:
    engine = engine_for(database_url)
    try:
        upgrade(engine, "0003")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO businesses (id, name, timezone, created_at) "
                "VALUES (1, 'Salon', 'UTC', :now)"), {"now": NAIVE_NOW})
            conn.execute(text(
                "INSERT INTO google_connections (id, business_id, account_email, "
                "refresh_token_encrypted, scopes, status, direction, hide_client_details, "
                "block_online_booking, reminders, copy_version, created_at, updated_at) VALUES "
                "(1, 1, '', 'x', '', 'connected', 'both', false, true, false, 1, :now, :now)"),
                {"now": NAIVE_NOW})
            for calendar in ("primary", "other", "empty"):
                conn.execute(text(
                    "INSERT INTO google_read_states (connection_id, google_calendar, "
                    "pull_requested) VALUES (1, :calendar, false)"), {"calendar": calendar})
            for index, (calendar, start, end) in enumerate((
                    ("primary", "2026-12-01 10:00:00", "2026-12-01 11:00:00"),
                    ("primary", "2026-12-02 00:00:00", "2026-12-05 00:00:00"),
                    ("other", "2026-12-01 10:00:00", "2026-12-01 10:30:00"))):
                conn.execute(text(
                    "INSERT INTO mirrored_events (business_id, connection_id, google_calendar, "
                    "event_id, summary, all_day, start_utc, end_utc, transparency, status, "
                    "event_type, blocks, updated_at) VALUES (1, 1, :calendar, :event, '', "
                    "false, :start, :end, 'opaque', 'confirmed', 'default', true, :now)"),
                    {"calendar": calendar, "event": f"e{index}", "start": start, "end": end,
                     "now": NAIVE_NOW})
        upgrade(engine)
        with engine.connect() as conn:
            found = dict(conn.execute(text(
                "SELECT google_calendar, max_span_seconds FROM google_read_states")).all())
        assert found == {"primary": 3 * 86400, "other": 1800, "empty": 0}
    finally:
        engine.dispose()
