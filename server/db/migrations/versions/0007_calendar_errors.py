"""last error per Google calendar (read state and employee calendar map)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 02:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TABLES = ('google_read_states', 'google_calendar_maps')


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy of the table: on SQLite that would cascade-delete the
    # rows pointing at it).
    for table in TABLES:
        op.add_column(table, sa.Column('last_error', sa.Text(), nullable=True))
        op.add_column(table, sa.Column('last_error_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, 'last_error_at')
        op.drop_column(table, 'last_error')
