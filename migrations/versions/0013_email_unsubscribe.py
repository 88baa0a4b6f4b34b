"""one-click unsubscribe links on outbox emails

R22 and RFC 8058: an email that can be turned off carries a List-Unsubscribe header with a
signed one-click URL; the outbox row keeps that URL with the body that shows it, so that the
message delivered (maybe after retries) is the one that was queued.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-02 14:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unsubscribe_url", sa.String(length=1000), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("unsubscribe_url")
