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

# On PostgreSQL, every journal write wakes the idle bridges at once (LISTEN bookingcal_journal,
# server/google/wakeup.py) instead of at their next half-second look, whoever wrote it.
NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION bookingcal_journal_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('bookingcal_journal', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER journal_notify AFTER INSERT ON journal
FOR EACH STATEMENT EXECUTE FUNCTION bookingcal_journal_notify()
"""


def upgrade() -> None:
    # Existing connections keep today's rules: every choice on. Plain ALTER TABLE (no batch
    # copy of the table: on SQLite that would cascade-delete the rows pointing at it).
    for name in COLUMNS:
        op.add_column('google_connections', sa.Column(name, sa.Boolean(), nullable=False,
                                                      server_default=sa.true()))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(NOTIFY_FUNCTION)
        op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS journal_notify ON journal")
        op.execute("DROP FUNCTION IF EXISTS bookingcal_journal_notify()")
    for name in COLUMNS:
        op.drop_column('google_connections', name)
