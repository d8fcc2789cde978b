"""Indexes on status, so that the sweeper reads unfinished work and connected agents, not
every assignation and agent there ever was; and on the blobs' age, for their retention.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_agents_status"), "agents", ["status"])
    op.create_index(op.f("ix_assignations_status"), "assignations", ["status"])
    op.create_index(op.f("ix_blobs_created_at"), "blobs", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_blobs_created_at"), table_name="blobs")
    op.drop_index(op.f("ix_assignations_status"), table_name="assignations")
    op.drop_index(op.f("ix_agents_status"), table_name="agents")
