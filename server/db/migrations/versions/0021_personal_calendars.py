"""personal calendars a writable account makes with MKCALENDAR

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 08:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('personal_calendars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('blocks', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['calendar_id'], ['calendars.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('calendar_id', 'slug', name='uq_personal_calendar_slug')
    )
    op.create_index('ix_personal_calendars_business_id', 'personal_calendars', ['business_id'],
                    unique=False)
    op.add_column('blocked_times', sa.Column('collection_id', sa.Integer(), nullable=True))
    op.create_index('ix_blocked_times_collection_id', 'blocked_times', ['collection_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_blocked_times_collection_id', table_name='blocked_times')
    op.drop_column('blocked_times', 'collection_id')
    op.drop_index('ix_personal_calendars_business_id', table_name='personal_calendars')
    op.drop_table('personal_calendars')
