"""Reads that span turns: a read state notes where a long read of its calendar goes on (the
provider's page, when the read began, whether it is a full read, how many events so far), and
a copy when the provider last showed it, so a first import of a huge calendar is read a
turn's worth at a time instead of in one pass (server/sync/reading.py). Nullable or defaulted
columns only: no table is rewritten.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-04 16:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None

READ_STATES = ('google_read_states', 'microsoft_read_states', 'caldav_read_states',
               'ics_read_states')
COPIES = ('google_copies', 'microsoft_copies', 'caldav_copies')


def upgrade() -> None:
    for table in READ_STATES:
        op.add_column(table, sa.Column('page_token', sa.Text(), nullable=True))
        op.add_column(table, sa.Column('read_started_at', sa.DateTime(), nullable=True))
        op.add_column(table, sa.Column('read_full', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
        op.add_column(table, sa.Column('read_items', sa.Integer(), nullable=False,
                                       server_default='0'))
    for table in COPIES:
        op.add_column(table, sa.Column('seen_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    for table in COPIES:
        op.drop_column(table, 'seen_at')
    for table in READ_STATES:
        for column in ('read_items', 'read_full', 'read_started_at', 'page_token'):
            op.drop_column(table, column)
