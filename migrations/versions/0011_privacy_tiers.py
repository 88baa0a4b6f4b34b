"""privacy levels and client tiers (R21)

Each account's personal information has a visibility level (``accounts.privacy``: all apps, by
default, as before; partner apps only; no app), and each client a tier (``clients.tier``), which
replaces the ``first_party`` flag: first-party stays first-party, and every other client becomes
an (unverified) third party, which is what it was. An operator verifies partners afterwards
(``idp clients set ID --tier verified_partner``).

The flag's column is dropped here: stop the old release's processes before upgrading (they read
it).

Revision ID: 0011
Revises: 0016
Create Date: 2026-12-02 14:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0016"
branch_labels = None
depends_on = None

clients = sa.table(
    "clients",
    sa.column("first_party", sa.Boolean()),
    sa.column("tier", sa.String(20)),
)


def upgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("privacy", sa.String(length=16), server_default="all_apps", nullable=False)
        )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tier", sa.String(length=20), server_default="first_party", nullable=False)
        )
    op.execute(clients.update().where(clients.c.first_party.is_(False)).values(tier="third_party"))
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.alter_column("tier", server_default=None)
        batch_op.drop_column("first_party")


def downgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_party", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    op.execute(clients.update().where(clients.c.tier != "first_party").values(first_party=False))
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.alter_column("first_party", server_default=None)
        batch_op.drop_column("tier")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("privacy")
