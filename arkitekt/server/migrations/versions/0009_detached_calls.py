"""Calls end with their caller: whether an assignation runs on without a follower, and
when a replica last had one following it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "assignations",
        sa.Column("detached", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("assignations", sa.Column("followed_at", sa.DateTime()))
    # Calls stored before this revision keep running as they did: detached.
    op.execute(sa.text("UPDATE assignations SET detached = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("assignations") as batch_op:
        batch_op.drop_column("followed_at")
        batch_op.drop_column("detached")
