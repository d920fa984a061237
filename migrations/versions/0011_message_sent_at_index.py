"""an index on message.sent_at

Revision ID: 0011
Revises: 0004
Create Date: 2026-12-06 21:45:00

/metrics reports the send rate as the segments sent in the last minute; without an
index that read scanned the whole message table on every scrape (180 ms at 400,000
texts), holding a web worker in front of Twilio's webhooks.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_sent_at"), ["sent_at"], unique=False)


def downgrade():
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_sent_at"))
