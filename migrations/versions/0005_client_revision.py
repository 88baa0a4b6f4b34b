"""client revision, nonce index

A revision number on each client, raised by every change to it: the token endpoint answers
from a client cached in the process and checks, in the statement that records the token, that
the client is still at that revision (issue 6). An index for the nonce-replay check of the
authorization endpoint (authorization codes by client and nonce), which scanned the table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_authorization_codes_client_id_nonce", ["client_id", "nonce"], unique=False
        )


def downgrade():
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_authorization_codes_client_id_nonce")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("revision")
