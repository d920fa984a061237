"""inbox handled, audit check

Messages to staff (comments with no consultation) make the console's inbox: staff mark
them handled, with when and by whom; an index finds the unhandled ones newest first.
`audit_check` holds how far the audit chain has been checked, shared by every process.

Revision ID: 0008
Revises: 0011
Create Date: 2026-12-06 21:31:12.796679

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0011"
branch_labels = None
depends_on = None


def _foreign_keys(on):
    """SQLite rebuilds a table to drop a column; other tables' keys must not stop it."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def upgrade():
    op.create_table(
        "audit_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("problem", sa.String(length=200), nullable=True),
        sa.Column("whole_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("walk_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_check")),
    )
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("handled_by", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ix_comment_inbox", ["consultation_id", "handled_at", "id"], unique=False
        )


def downgrade():
    _foreign_keys(False)
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.drop_index("ix_comment_inbox")
        batch_op.drop_column("handled_by")
        batch_op.drop_column("handled_at")
    _foreign_keys(True)
    op.drop_table("audit_check")
