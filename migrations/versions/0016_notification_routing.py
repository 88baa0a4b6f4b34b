"""notification routing

R25 (issue 18): the company's routing table (who is emailed for each kind of event) and the
events downstream apps published, one row per (client, event id) so that a replay emails nothing.

Revision ID: 0016
Revises: 0018
Create Date: 2026-12-02 15:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notification_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=20), nullable=False),
        sa.Column("account_ids", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_notification_routes_company_id_companies"),
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["staff_groups.id"],
            name=op.f("fk_notification_routes_group_id_staff_groups"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_routes")),
        sa.UniqueConstraint(
            "company_id", "kind", name=op.f("uq_notification_routes_company_id_kind")
        ),
    )
    with op.batch_alter_table("notification_routes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_routes_company_id"), ["company_id"], unique=False
        )

    op.create_table(
        "notification_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("fell_back", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_notification_events_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_notification_events_company_id_companies"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_notification_events_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_events")),
        sa.UniqueConstraint(
            "client_id", "event_id", name=op.f("uq_notification_events_client_id_event_id")
        ),
    )
    with op.batch_alter_table("notification_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_events_company_id"), ["company_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("notification_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_events_company_id"))
    op.drop_table("notification_events")
    with op.batch_alter_table("notification_routes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_routes_company_id"))
    op.drop_table("notification_routes")
