"""languages and time zones

Accounts' languages become locale ids of the catalogs (``zh`` -> ``zh_Hans``), wide enough for
``zh_Hant`` and the like, and optional: ``en`` was every account's default, chosen by nobody, and
now an account without a language of its own follows its browser (pages) and its company
(emails). Accounts get a time zone of their own, companies a language (their owner's) and a time
zone (issue 13).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column(
            "language",
            existing_type=sa.String(length=8),
            type_=sa.String(length=16),
            existing_nullable=False,
            nullable=True,
            existing_server_default="en",
            server_default=None,
        )
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=16), server_default="en", nullable=False)
        )
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    op.execute("UPDATE accounts SET language = 'zh_Hans' WHERE language LIKE 'zh%'")
    op.execute("UPDATE accounts SET language = NULL WHERE language = 'en'")
    op.execute(
        "UPDATE companies SET language = 'zh_Hans' WHERE id IN "
        "(SELECT company_id FROM accounts WHERE kind = 'main' AND language = 'zh_Hans')"
    )


def downgrade():
    op.execute("UPDATE accounts SET language = 'zh' WHERE language LIKE 'zh%'")
    op.execute("UPDATE accounts SET language = 'en' WHERE language IS NULL")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("language")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.alter_column(
            "language",
            existing_type=sa.String(length=16),
            type_=sa.String(length=8),
            existing_nullable=True,
            nullable=False,
            server_default="en",
        )
