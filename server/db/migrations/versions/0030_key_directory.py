"""the key directory (keys looked up before the business is known -> their business); the
unique keys of links, API keys, admin users and sessions, OAuth states, calendars' and
bookings' UIDs end in business_id

The directory (key_directory: kind, key, business_id; primary key (kind, key)) is filled from
the existing rows; it keeps the installation-wide uniqueness of link tokens, API keys, admin
e-mails, admin sessions and OAuth states (a reference table on a sharded cluster), so the
owning tables' unique keys take business_id as their last column. Calendars' and bookings'
UIDs are random and only ever looked up within a calendar: unique within the business. See
docs/scaling.md, "Sharding by business".

SQLite rebuilds the changed tables by its documented procedure (foreign keys off, copy,
drop, rename, indexes again) in a transaction of its own: a plain batch copy would DROP the
parent tables with foreign keys on, and the drop would cascade to bookings' and links' rows.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03 23:50:00
"""
from alembic import op
import sqlalchemy as sa

from server.db.migrations.sqlite_rebuild import rebuild


revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

# table -> (key column, new unique constraint's name); the constraint becomes (column, business_id)
UNIQUES = {'links': ('token_hash', 'uq_links_token_hash'),
           'api_keys': ('key_hash', 'uq_api_keys_key_hash'),
           'admin_users': ('email', 'uq_admin_users_email'),
           'admin_sessions': ('token_hash', 'uq_admin_sessions_token_hash'),
           'calendars': ('uid', 'uq_calendars_uid'),
           'bookings': ('uid', 'uq_bookings_uid')}
# Tables whose primary key (the state's hash) takes business_id.
KEYS = ('google_oauth_states', 'microsoft_oauth_states')
# kind -> (table, key column): what the directory is filled from
FILL = {'link': ('links', 'token_hash'), 'api_key': ('api_keys', 'key_hash'),
        'admin_email': ('admin_users', 'email'),
        'admin_session': ('admin_sessions', 'token_hash'),
        'google_oauth': ('google_oauth_states', 'state_hash'),
        'microsoft_oauth': ('microsoft_oauth_states', 'state_hash')}


def _found(table: str, columns: list[str]) -> str | None:
    for found in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if list(found['column_names']) == columns:
            return str(found['name']) if found['name'] else None
    return None


def _create_directory() -> None:
    op.create_table('key_directory',
                    sa.Column('kind', sa.String(length=24), nullable=False),
                    sa.Column('key', sa.String(length=320), nullable=False),
                    sa.Column('business_id', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('kind', 'key'))
    op.create_index('ix_key_directory_business_id', 'key_directory', ['business_id'])
    for kind, (table, column) in FILL.items():
        op.execute(f"INSERT INTO key_directory (kind, key, business_id) "
                   f"SELECT '{kind}', {column}, business_id FROM {table}")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        for table, (column, name) in UNIQUES.items():
            found = _found(table, [column])
            if found is not None:
                op.drop_constraint(found, table, type_='unique')
            op.create_unique_constraint(name, table, [column, 'business_id'])
        for table in KEYS:
            op.drop_constraint(f'{table}_pkey', table, type_='primary')
            op.create_primary_key(f'{table}_pkey', table, ['state_hash', 'business_id'])
    else:
        edits = {table: (r'(CONSTRAINT \w+ )?UNIQUE \(' + column + r'\)',
                         f'CONSTRAINT {name} UNIQUE ({column}, business_id)')
                 for table, (column, name) in UNIQUES.items()}
        edits.update({table: (r'PRIMARY KEY \(state_hash\)',
                              'PRIMARY KEY (state_hash, business_id)') for table in KEYS})
        rebuild(edits, '0030')
    if not sa.inspect(op.get_bind()).has_table('key_directory'):
        _create_directory()


def downgrade() -> None:
    op.drop_index('ix_key_directory_business_id', table_name='key_directory')
    op.drop_table('key_directory')
    if op.get_bind().dialect.name == 'postgresql':
        for table in KEYS:
            op.drop_constraint(f'{table}_pkey', table, type_='primary')
            op.create_primary_key(f'{table}_pkey', table, ['state_hash'])
        for table, (column, name) in UNIQUES.items():
            op.drop_constraint(name, table, type_='unique')
            op.create_unique_constraint(f'{table}_{column}_key', table, [column])
    else:
        edits = {table: (f'CONSTRAINT {name} UNIQUE \\({column}, business_id\\)',
                         f'CONSTRAINT {name} UNIQUE ({column})' if table == 'admin_sessions'
                         else f'UNIQUE ({column})')
                 for table, (column, name) in UNIQUES.items()}
        edits.update({table: (r'PRIMARY KEY \(state_hash, business_id\)',
                              'PRIMARY KEY (state_hash)') for table in KEYS})
        rebuild(edits, '0030')
