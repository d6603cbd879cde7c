"""mirrored events: range index per connection (connection, Google calendar, start)

Availability reads one connection's mirrored events of one Google calendar in a time window.
The old (google_calendar, start_utc) index mixed every connection's "primary" calendar, so the
read grew with the number of businesses.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 02:20:00
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_mirrored_connection_calendar_start', 'mirrored_events',
                    ['connection_id', 'google_calendar', 'start_utc'], unique=False)
    op.drop_index('ix_mirrored_calendar_start', table_name='mirrored_events')


def downgrade() -> None:
    op.create_index('ix_mirrored_calendar_start', 'mirrored_events',
                    ['google_calendar', 'start_utc'], unique=False)
    op.drop_index('ix_mirrored_connection_calendar_start', table_name='mirrored_events')
