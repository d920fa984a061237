"""member imports are checked by a job: import status 'checking', the file kept meanwhile

Revision ID: 0012
Revises: 0005
Create Date: 2026-12-07 01:00:00

The console's upload no longer checks every row in the web request: it stores the file
(`member_import.data`, NULL once checked) with the status `checking`, and a job checks
it. The CHECK on member_import.status is replaced by one that allows the new value.
SQLite rebuilds the table in batch mode, with foreign keys off as in 0002 (otherwise
dropping the old member_import would cascade to member_import_row).

Downgrade: imports still `checking` are working data of a few seconds, not records;
they are discarded (their file dropped with the column), and staff upload it again.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0005"
branch_labels = None
depends_on = None

BEFORE = ("preview", "queued", "running", "done", "discarded")
AFTER = ("checking", *BEFORE)


def _in(values):
    return "status IN (" + ", ".join("'" + value + "'" for value in values) + ")"


def _foreign_keys(on):
    """SQLite rebuilds a table to change it; other tables' keys must not stop it."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def upgrade():
    _foreign_keys(False)
    with op.batch_alter_table("member_import", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_member_import_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_member_import_status"), _in(AFTER))
    _foreign_keys(True)


def downgrade():
    op.execute(
        "UPDATE member_import SET status = 'discarded', finished_at = CURRENT_TIMESTAMP "
        "WHERE status = 'checking'"
    )
    _foreign_keys(False)
    with op.batch_alter_table("member_import", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_member_import_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_member_import_status"), _in(BEFORE))
        batch_op.drop_column("data")
    _foreign_keys(True)
