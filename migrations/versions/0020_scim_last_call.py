"""SCIM clients' last call

Issue 19, item 5: the console's "last synced" of a SCIM client was its newest audited change,
so a client that had only read (an identity platform's connection test, a sync that found
nothing to change) read "Not yet" and the owner thought the connection broken. One column on
``clients``: when the client last called ``/scim/v2`` with a valid bearer, written at most once
a minute per client (a marker in the shared store guards the UPDATE).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 08:20:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scim_last_call_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("scim_last_call_at")
