"""edits made in Google/Outlook to copies of bookings: rewrite or apply; refusals kept

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('businesses', sa.Column('edits_from_calendars', sa.String(length=8),
                                          nullable=False, server_default='rewrite'))
    op.create_table('calendar_edit_refusals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_edit_refusals_business_id', 'calendar_edit_refusals',
                    ['business_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_edit_refusals_business_id', table_name='calendar_edit_refusals')
    op.drop_table('calendar_edit_refusals')
    op.drop_column('businesses', 'edits_from_calendars')
