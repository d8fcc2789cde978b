"""Leases and sessions for agent connections, replicas, idempotent nodes, report
de-duplication and attempts.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (not batch mode): SQLite adds these in place, without recreating
    # tables that other tables' foreign keys point to.
    op.add_column(
        "nodes", sa.Column("idempotent", sa.Boolean(), nullable=False, server_default="0")
    )
    op.add_column("agents", sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("agents", sa.Column("session", sa.String(length=64), nullable=True))
    op.add_column("agents", sa.Column("replica", sa.String(length=32), nullable=True))
    op.create_table(
        "replicas",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replicas")),
    )
    for column in ("reported", "attempts"):
        op.add_column(
            "assignations", sa.Column(column, sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("assignations") as batch:
        batch.drop_column("attempts")
        batch.drop_column("reported")
    op.drop_table("replicas")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("replica")
        batch.drop_column("session")
        batch.drop_column("epoch")
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("idempotent")
