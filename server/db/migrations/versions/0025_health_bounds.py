"""sync health: a business's own live-check age; indexes bounding the notifier's reads

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-03 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0025'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('businesses', sa.Column('live_check_max_age_seconds', sa.Integer(),
                                          nullable=True))


def downgrade() -> None:
    op.drop_column('businesses', 'live_check_max_age_seconds')
