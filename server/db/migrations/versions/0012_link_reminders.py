"""reminders per link: links.reminder_minutes (null: no alarm, as every link so far)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('links', sa.Column('reminder_minutes', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('links', 'reminder_minutes')
