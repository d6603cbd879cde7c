"""writable CalDAV links: personal events written by phones, who made each change

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 05:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, as in 0007 (a batch copy would cascade-delete rows pointing here).
    op.add_column('links', sa.Column('writable', sa.Boolean(), nullable=False,
                                     server_default='0'))
    op.add_column('businesses', sa.Column('allow_cancel_from_calendar', sa.Boolean(),
                                          nullable=False, server_default='0'))
    op.add_column('businesses', sa.Column('calendar_moves_within_hours', sa.Boolean(),
                                          nullable=False, server_default='0'))
    op.add_column('blocked_times', sa.Column('source_text', sa.Text(), nullable=True))
    op.add_column('blocked_times', sa.Column('blocks', sa.Boolean(), nullable=False,
                                             server_default='1'))
    op.add_column('journal', sa.Column('actor', sa.String(length=64), nullable=True))
    op.create_table('account_alarms',
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('link_id', 'booking_id')
    )


def downgrade() -> None:
    op.drop_table('account_alarms')
    op.drop_column('journal', 'actor')
    op.drop_column('blocked_times', 'blocks')
    op.drop_column('blocked_times', 'source_text')
    op.drop_column('businesses', 'calendar_moves_within_hours')
    op.drop_column('businesses', 'allow_cancel_from_calendar')
    op.drop_column('links', 'writable')
