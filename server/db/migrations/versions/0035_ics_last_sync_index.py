"""ICS sources by their last read, like the other connections (0033): the bridge's looks count
the sources other processes read since the last look without reading every source

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-04 13:40:00
"""
from alembic import op


revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_ics_sources_last_sync', 'ics_sources', ['last_sync_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ics_sources_last_sync', table_name='ics_sources')
