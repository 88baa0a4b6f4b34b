"""avatars

Avatars (R20, issue 17): the photos accounts send, their review by the owner, their resized
copies when kept in the database, and the approved one each account shows.

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-02 15:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "avatars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_avatars_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_avatars_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"], ["accounts.id"], name=op.f("fk_avatars_reviewed_by_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avatars")),
        sa.UniqueConstraint("public_id", name=op.f("uq_avatars_public_id")),
    )
    with op.batch_alter_table("avatars", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_avatars_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_avatars_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_avatars_status"), ["status"], unique=False)
    op.create_table(
        "avatar_images",
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("public_id", "size", name=op.f("pk_avatar_images")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("picture_id", sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("picture_id")
    op.drop_table("avatar_images")
    with op.batch_alter_table("avatars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_avatars_status"))
        batch_op.drop_index(batch_op.f("ix_avatars_company_id"))
        batch_op.drop_index(batch_op.f("ix_avatars_account_id"))
    op.drop_table("avatars")
