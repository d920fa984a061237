"""members' data: who added a member, carrier blocks, erasure, retention

Revision ID: 0006
Revises: 0008
Create Date: 2026-12-06 21:32:08

- member.consent_by: who added the member (the staff or API actor), for the consent
  record; NULL when the consent was the member's own text.
- member.carrier_blocked_at / carrier_blocked_reason: Twilio refuses to text the number
  (21610) although the member wants texts, until they text START.
- member.erased_at and the status value 'erased': what is left of an erased member (a
  tombstone holding their anonymous votes). The CHECK on member.status is replaced by
  one that allows it (and the old one again on downgrade, once no row holds it).
- ix_audit_event_subject: a member's consent history is read from the audit log by
  subject for their data export.
- ix_message_body_kept: the texts whose body is still kept, by age, for the retention
  sweep (partial: cleared rows leave the index).

SQLite rebuilds tables in batch mode, with foreign keys off as in 0002.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0008"
branch_labels = None
depends_on = None

BEFORE = ("active", "opted_out", "pending")
AFTER = (*BEFORE, "erased")
KEPT = "body <> ''"


def _in(values):
    return "status IN (" + ", ".join("'" + value + "'" for value in values) + ")"


def _foreign_keys(on):
    """SQLite rebuilds a table to change it; other tables' keys must not stop it."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def upgrade():
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_event_subject", ["subject_type", "subject_id"], unique=False
        )

    _foreign_keys(False)
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_by", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("carrier_blocked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("carrier_blocked_reason", sa.String(length=200), nullable=True)
        )
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_member_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_member_status"), _in(AFTER))
    _foreign_keys(True)

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_body_kept",
            ["created_at"],
            unique=False,
            postgresql_where=sa.text(KEPT),
            sqlite_where=sa.text(KEPT),
        )


def downgrade():
    if not op.get_context().as_sql:
        left = (
            op.get_bind()
            .exec_driver_sql("SELECT count(*) FROM member WHERE status = 'erased'")
            .scalar()
        )
        if left:
            raise RuntimeError(
                f"{left} members are 'erased'; an older Chorus cannot hold them"
                " (they keep the anonymous votes of erased members)"
            )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_body_kept")

    _foreign_keys(False)
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_member_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_member_status"), _in(BEFORE))
        batch_op.drop_column("erased_at")
        batch_op.drop_column("carrier_blocked_reason")
        batch_op.drop_column("carrier_blocked_at")
        batch_op.drop_column("consent_by")
    _foreign_keys(True)

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_subject")
