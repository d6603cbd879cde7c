"""Paced turns: a read state notes when the next turn of a read in progress may be taken, so a
huge first import takes at most its share of a bridge's time (server/sync/pacing.py). One
nullable column per read-state table: no table is rewritten.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-04 19:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0037'
down_revision = '0036'
branch_labels = None
depends_on = None

READ_STATES = ('google_read_states', 'microsoft_read_states', 'caldav_read_states',
               'ics_read_states')


def upgrade() -> None:
    for table in READ_STATES:
        op.add_column(table, sa.Column('turn_after', sa.DateTime(), nullable=True))


def downgrade() -> None:
    for table in READ_STATES:
        op.drop_column(table, 'turn_after')
