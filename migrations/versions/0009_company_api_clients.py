"""company API clients

A company's own API clients (its ERP, HR tool, scripts) belong to the company: they act only
within it, through the admin API (issue 16).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("company_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_clients_company_id"), ["company_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_clients_company_id_companies"), "companies", ["company_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_clients_company_id_companies"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_clients_company_id"))
        batch_op.drop_column("company_id")
