"""a personal calendar's own colour (CalDAV calendar-color, set by PROPPATCH or MKCALENDAR)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 15:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('personal_calendars', sa.Column('colour', sa.String(length=9), nullable=True))
    # Until now a personal calendar showed its employee calendar's colour: it keeps it.
    op.execute("UPDATE personal_calendars SET colour = (SELECT calendars.colour FROM calendars "
               "WHERE calendars.id = personal_calendars.calendar_id)")


def downgrade() -> None:
    op.drop_column('personal_calendars', 'colour')
