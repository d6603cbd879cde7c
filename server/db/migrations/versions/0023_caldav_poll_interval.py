"""a CalDAV connection's own poll interval (NULL: caldav.poll_seconds)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('caldav_connections', sa.Column('poll_seconds', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('caldav_connections') as batch:
        batch.drop_column('poll_seconds')
