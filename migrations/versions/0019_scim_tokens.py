"""SCIM bearer tokens

Issue 19, item 5: Entra ID's and Okta's provisioning take one long-lived bearer token pasted by
the owner; they cannot run the client credentials grant. A SCIM client holds one such token at
a time: its SHA-256 (the token is 256 random bits, so a fast hash looked up by a unique index is
as strong as a slow one) and when it was made. Two columns on ``clients``, not a table of their
own: a client has one token or none, a replacement overwrites it in the same row (the old one
stops working with that one UPDATE), and the row a token finds is the client itself, whose
``disabled`` and ``company_id`` decide the call.

Revision ID: 0019
Revises: 0014
Create Date: 2026-12-02 18:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scim_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("scim_token_created_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_clients_scim_token_hash"), ["scim_token_hash"]
        )


def downgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_clients_scim_token_hash"), type_="unique")
        batch_op.drop_column("scim_token_created_at")
        batch_op.drop_column("scim_token_hash")
