"""personal events' UIDs unique per calendar, not across businesses

A phone's PUT of a UID that another business already used answered 409: an existence oracle
across tenants. Blocked time (where phones' events live) is now unique on (calendar, uid), as
CalDAV requires per collection; a plain index on uid keeps the multiget lookups by UID.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 08:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _uid_unique_name() -> str | None:
    """The name of the old UNIQUE (uid) on PostgreSQL (blocked_times_uid_key when made by 0001)."""
    for found in sa.inspect(op.get_bind()).get_unique_constraints('blocked_times'):
        if found['column_names'] == ['uid']:
            return found['name']
    return None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        name = _uid_unique_name()
        if name is not None:
            op.drop_constraint(name, 'blocked_times', type_='unique')
        op.create_unique_constraint('uq_blocked_calendar_uid', 'blocked_times',
                                    ['calendar_id', 'uid'])
    else:
        # SQLite keeps an unnamed table constraint: the table is copied without it (nothing
        # references blocked_times, so the copy cascades nowhere).
        with op.batch_alter_table('blocked_times', naming_convention=NAMING,
                                  recreate='always') as batch_op:
            batch_op.drop_constraint('uq_blocked_times_uid', type_='unique')
            batch_op.create_unique_constraint('uq_blocked_calendar_uid',
                                              ['calendar_id', 'uid'])
    op.create_index('ix_blocked_times_uid', 'blocked_times', ['uid'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_blocked_times_uid', table_name='blocked_times')
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint('uq_blocked_calendar_uid', 'blocked_times', type_='unique')
        op.create_unique_constraint('blocked_times_uid_key', 'blocked_times', ['uid'])
    else:
        with op.batch_alter_table('blocked_times', recreate='always') as batch_op:
            batch_op.drop_constraint('uq_blocked_calendar_uid', type_='unique')
            batch_op.create_unique_constraint('uq_blocked_times_uid', ['uid'])
