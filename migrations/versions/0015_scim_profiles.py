"""SCIM profiles

What a company's HR system keeps about a sub-account beside what the console edits (issue 19):
its own id for the person (``externalId``), the parts of the name, and the enterprise
extension's employee number and department, and the type (work, home…) of its email and phone.
One row per sub-account that SCIM has written. A staff group keeps the HR system's id too.

Revision ID: 0015
Revises: 0017
Create Date: 2026-12-02 15:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "scim_profiles",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("given_name", sa.String(length=120), nullable=True),
        sa.Column("family_name", sa.String(length=120), nullable=True),
        sa.Column("formatted_name", sa.String(length=255), nullable=True),
        sa.Column("employee_number", sa.String(length=64), nullable=True),
        sa.Column("department", sa.String(length=120), nullable=True),
        sa.Column("email_type", sa.String(length=16), nullable=True),
        sa.Column("phone_type", sa.String(length=16), nullable=True),
        sa.Column("email_primary", sa.Boolean(), nullable=True),
        sa.Column("phone_primary", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_scim_profiles_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_scim_profiles_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_scim_profiles")),
    )
    with op.batch_alter_table("scim_profiles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scim_profiles_company_id_external_id"),
            ["company_id", "external_id"],
            unique=False,
        )
    with op.batch_alter_table("staff_groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table("staff_groups", schema=None) as batch_op:
        batch_op.drop_column("external_id")
    with op.batch_alter_table("scim_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scim_profiles_company_id_external_id"))
    op.drop_table("scim_profiles")
