"""open slots for partners: the `slots` link profile and links.service_id (its service)

The profile check widens to take 'slots'. On PostgreSQL the constraint is replaced. On SQLite
a CHECK cannot be altered, and copying the table (a batch migration) would cascade-delete the
link_calendars rows; a widened CHECK changes nothing stored, which is the case SQLite documents
for editing the table's definition in sqlite_schema in place ("Making Other Kinds Of Table
Schema Changes"), followed by an integrity check.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 06:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

OLD = "profile IN ('full', 'limited', 'busy')"
NEW = "profile IN ('full', 'limited', 'busy', 'slots')"


def _replace_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("ALTER TABLE links DROP CONSTRAINT link_profile")
        op.execute(f"ALTER TABLE links ADD CONSTRAINT link_profile CHECK ({new})")
        return
    definition = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'links'").scalar_one()
    if old not in definition:
        raise RuntimeError("the links table's profile check is not the expected one; "
                           "migrate it by hand")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = "
                         "'links'", (definition.replace(old, new),))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    if problems != ['ok']:
        raise RuntimeError(f"the database's integrity check failed: {problems[:5]}")


def upgrade() -> None:
    op.add_column('links', sa.Column('service_id', sa.Integer(), nullable=True))
    _replace_check(OLD, NEW)


def downgrade() -> None:
    op.execute("DELETE FROM links WHERE profile = 'slots'")
    _replace_check(NEW, OLD)
    op.drop_column('links', 'service_id')
