"""per-item errors of Google writes, with their backoff

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 20:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('google_write_errors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('permanent', sa.Boolean(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failed_at', sa.DateTime(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(), nullable=False),
    sa.Column('retry_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['google_connections.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'kind', 'item_id')
    )
    with op.batch_alter_table('google_write_errors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_google_write_errors_connection_id'),
                              ['connection_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('google_write_errors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_google_write_errors_connection_id'))
    op.drop_table('google_write_errors')
