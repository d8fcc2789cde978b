"""Calls by when they last changed: a history retention deletes the calls that ended
longest ago first, and stops at its cutoff.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_assignations_updated_at"), "assignations", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_assignations_updated_at"), table_name="assignations")
