"""message status 'unknown': a text in doubt for too long, never resent

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 19:50:00

A claimed text whose fate Twilio could not tell us (its list unreachable or failing)
for IN_DOUBT_GIVE_UP seconds becomes `unknown`: the broadcast can complete, staff see
how many, and it is never sent again. The CHECK on message.status is replaced by one
that allows the new value (and the old one again on downgrade, once no row holds it).
SQLite rebuilds the table in batch mode, with foreign keys off as in 0002.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BEFORE = ("queued", "sending", "sent", "delivered", "undelivered", "failed", "skipped", "received")
AFTER = (*BEFORE, "unknown")


def _in(values):
    return "status IN (" + ", ".join("'" + value + "'" for value in values) + ")"


def _foreign_keys(on):
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _replace(values):
    _foreign_keys(False)
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_message_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_message_status"), _in(values))
    _foreign_keys(True)


def upgrade():
    _replace(AFTER)


def downgrade():
    if not op.get_context().as_sql:
        left = op.get_bind().exec_driver_sql(
            "SELECT count(*) FROM message WHERE status = 'unknown'"
        ).scalar()
        if left:
            raise RuntimeError(
                f"{left} messages are 'unknown'; settle them (e.g. as 'failed') before downgrading"
            )
    _replace(BEFORE)
