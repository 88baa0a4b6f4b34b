"""contact change codes

A one-time code may prove a new email or phone that an account wants instead of its own (R20):
the new address is saved only once its code is typed in. ``purpose`` tells such a code from one
that proves the account's current address (R14).

Revision ID: 0010
Revises: 0011
Create Date: 2026-12-02 14:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=8), nullable=False, server_default="verify")
        )


def downgrade():
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.drop_column("purpose")
