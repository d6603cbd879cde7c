"""all-day bookings (a course day, a retreat): bookings.all_day

Existing bookings are timed. Plain ALTER TABLE (no batch copy of the table: on SQLite that
would cascade-delete the rows pointing at it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 05:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('bookings', sa.Column('all_day', sa.Boolean(), nullable=False,
                                        server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('bookings', 'all_day')
