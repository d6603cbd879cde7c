"""indexes of the bridge loop's quick looks: read states asked to be read (partial), calendar
maps by calendar, connections by their last read

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-04 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


READ_STATES = ('google_read_states', 'microsoft_read_states', 'caldav_read_states',
               'ics_read_states')
MAPS = ('google_calendar_maps', 'microsoft_calendar_maps', 'caldav_calendar_maps')
CONNECTIONS = ('google_connections', 'microsoft_connections', 'caldav_connections')


def upgrade() -> None:
    # The predicate as each engine's queries spell `pull_requested IS true`, so the planner
    # matches it.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    asked = sa.text('pull_requested IS 1' if sqlite else 'pull_requested IS true')
    for table in READ_STATES:
        op.create_index(f'ix_{table}_asked', table, ['connection_id'], unique=False,
                        sqlite_where=asked, postgresql_where=asked)
    for table in MAPS:
        op.create_index(f'ix_{table}_calendar', table, ['calendar_id'], unique=False)
    for table in CONNECTIONS:
        op.create_index(f'ix_{table}_last_sync', table, ['last_sync_at'], unique=False)


def downgrade() -> None:
    for table in CONNECTIONS:
        op.drop_index(f'ix_{table}_last_sync', table_name=table)
    for table in MAPS:
        op.drop_index(f'ix_{table}_calendar', table_name=table)
    for table in READ_STATES:
        op.drop_index(f'ix_{table}_asked', table_name=table)
