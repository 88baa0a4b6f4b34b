"""session devices

What the account centre's sessions page shows of each sign-in (issue 17): the address it came
from and when it was last seen; and the device it was made on (the hash of a long-lived device
cookie), so that a sign-in from a device the account never used sends a "new sign-in" notice.

Revision ID: 0018
Revises: 0009
Create Date: 2026-12-02 15:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ip", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("device_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_sso_sessions_account_device", ["account_id", "device_hash"], unique=False
        )


def downgrade():
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sso_sessions_account_device")
        batch_op.drop_column("device_hash")
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("ip")
