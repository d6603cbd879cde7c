"""per-business Google blocking policy

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 01:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

COLUMNS = ('block_out_of_office', 'block_tentative', 'block_all_day')


def upgrade() -> None:
    # Existing connections keep today's rules: every choice on. Plain ALTER TABLE (no batch
    # copy of the table: on SQLite that would cascade-delete the rows pointing at it).
    for name in COLUMNS:
        op.add_column('google_connections', sa.Column(name, sa.Boolean(), nullable=False,
                                                      server_default=sa.true()))


def downgrade() -> None:
    for name in COLUMNS:
        op.drop_column('google_connections', name)
