"""inquiry allocation and teams

R24: a store's allocation rules (on or off, the target group), a sub-account's switch and
weight; issue 18's teams: whom a sub-account reports to.

Revision ID: 0014
Revises: 0015
Create Date: 2026-12-02 14:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("receives_inquiries", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("inquiry_weight", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_accounts_manager_id"), ["manager_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_accounts_manager_id_accounts"), "accounts", ["manager_id"], ["id"]
        )
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("inquiry_allocation", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("inquiry_group_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_stores_inquiry_group_id_staff_groups"),
            "staff_groups",
            ["inquiry_group_id"],
            ["id"],
        )


def downgrade():
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_stores_inquiry_group_id_staff_groups"), type_="foreignkey"
        )
        batch_op.drop_column("inquiry_group_id")
        batch_op.drop_column("inquiry_allocation")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_accounts_manager_id_accounts"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_accounts_manager_id"))
        batch_op.drop_column("manager_id")
        batch_op.drop_column("inquiry_weight")
        batch_op.drop_column("receives_inquiries")
