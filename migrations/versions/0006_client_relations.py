"""client home page, token exchange and introspection permissions

``client_uri``: the app's home page, linked from the start page. ``exchangeable_by``: the clients
that may exchange this client's access tokens (RFC 8693); ``resource_server_for``: the clients
whose tokens this client may introspect (RFC 7662 section 4). Until now any client holding the
exchange grant could exchange any token, and any confidential client could introspect any token
(issue 12); both now default to the client's own tokens only.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_uri", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("exchangeable_by", sa.JSON(), server_default="[]", nullable=False)
        )
        batch_op.add_column(
            sa.Column("resource_server_for", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("resource_server_for")
        batch_op.drop_column("exchangeable_by")
        batch_op.drop_column("client_uri")
