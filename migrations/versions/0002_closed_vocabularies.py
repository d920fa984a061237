"""closed vocabularies: a CHECK constraint on every status, kind and channel column

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 19:30:00

One CHECK per column, named `ck_<table>_<column>` as app/models.py declares them
through its StrEnums; the columns keep their VARCHAR types. The values are written out
here rather than imported: a migration states the schema of its own revision, whatever
the models say later (a new value is a new migration that replaces the CHECK).

On SQLite, batch mode rebuilds each table (copy, drop, rename). Dropping a table with
foreign keys enforced would delete the rows that reference it (member_group cascades)
or fail, so enforcement is off while the tables are rebuilt.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHANNELS = ("sms", "web", "assisted")

# {table: {column: allowed values}}; NULL stays allowed where the column allows it.
CHECKS = {
    "member": {
        "status": ("active", "opted_out", "pending"),
        "consent_source": ("sms", "staff", "api", "demo"),
        "opt_out_source": ("sms", "twilio-21610"),
    },
    "consultation": {
        "kind": ("yes_no", "choice", "open"),
        "status": ("draft", "open", "closed", "decided"),
        "decision_by": ("community", "staff", "allies"),
    },
    "vote": {"channel": CHANNELS},
    "vote_change": {"channel": CHANNELS},
    "comment": {"channel": CHANNELS},
    "message": {
        "direction": ("in", "out"),
        "status": (
            "queued",
            "sending",
            "sent",
            "delivered",
            "undelivered",
            "failed",
            "skipped",
            "received",
        ),
        "encoding": ("GSM-7", "UCS-2"),
        "priority": ("high", "bulk"),
    },
    "broadcast": {
        "kind": ("summary", "reminder", "outcome", "announcement"),
        "audience_filter": ("all", "not_voted", "participants"),
        "status": ("draft", "scheduled", "sending", "paused", "completed", "cancelled"),
    },
}


def _in(column, values):
    quoted = ", ".join("'" + value + "'" for value in values)
    return f"{column} IN ({quoted})"


def _refuse_unknown_values():
    """Stop before any change when a row holds a value its CHECK would refuse: the
    operator fixes those rows (the message says which) and runs the upgrade again.
    Offline (`--sql`) there are no rows to look at."""
    if op.get_context().as_sql:
        return
    found = []
    bind = op.get_bind()
    for table, columns in CHECKS.items():
        for column, values in columns.items():
            rows = bind.execute(
                sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE NOT ({_in(column, values)})")
            ).scalars()
            found += [f"{table}.{column} = {value!r}" for value in rows]
    if found:
        raise RuntimeError(
            "rows hold values outside their column's vocabulary; correct them and upgrade "
            "again: " + "; ".join(found)
        )


def _foreign_keys(on):
    """SQLite only: PRAGMA foreign_keys is ignored inside a transaction, so it is set
    between two (the work before it is committed)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        if not op.get_context().as_sql and op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar() != int(on):
            raise RuntimeError(f"could not turn SQLite foreign keys {'on' if on else 'off'}")


def upgrade():
    _refuse_unknown_values()
    _foreign_keys(False)
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(
                    batch_op.f(f"ck_{table}_{column}"), _in(column, values)
                )
    _foreign_keys(True)


def downgrade():
    _foreign_keys(False)
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(batch_op.f(f"ck_{table}_{column}"), type_="check")
    _foreign_keys(True)
