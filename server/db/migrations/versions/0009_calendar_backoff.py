"""per-calendar backoff of Google writes (employee calendar map)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 02:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, as in 0007 (a batch copy would cascade-delete rows pointing here).
    op.add_column('google_calendar_maps', sa.Column(
        'failures', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('google_calendar_maps', sa.Column('retry_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('google_calendar_maps', 'retry_at')
    op.drop_column('google_calendar_maps', 'failures')
