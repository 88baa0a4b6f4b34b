"""audit entries name their request; the console's log index

Every owner action writes one audit entry naming the request that made it (``X-Request-ID``),
and the owner console pages a company's log newest first (issue 15).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_audit_events_company_id_id", ["company_id", "id"], unique=False)
        batch_op.create_index(
            "ix_audit_events_company_id_action", ["company_id", "action"], unique=False
        )


def downgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_company_id_action")
        batch_op.drop_index("ix_audit_events_company_id_id")
        batch_op.drop_column("request_id")
