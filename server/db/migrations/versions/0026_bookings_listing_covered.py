"""bookings' calendar/start index covers a CalDAV listing (id, status, uid, seq)

A Depth-1 PROPFIND or an empty-token sync of a calendar reads every confirmed booking's id, UID
and sequence in start (or id) order: with these columns in the index the query reads the index
alone instead of one table lookup per booking (about half the query's time at 100k items).
The index keeps its leading columns, so every range query that used it still does.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 15:15:00
"""
from alembic import op


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_bookings_calendar_start', table_name='bookings')
    op.create_index('ix_bookings_calendar_start', 'bookings',
                    ['calendar_id', 'start_utc', 'id', 'status', 'uid', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_bookings_calendar_start', table_name='bookings')
    op.create_index('ix_bookings_calendar_start', 'bookings', ['calendar_id', 'start_utc'],
                    unique=False)
