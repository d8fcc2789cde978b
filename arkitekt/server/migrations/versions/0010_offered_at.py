"""When an agent last offered each implementation: the newest offer of a function, by
app and interface, supersedes the versions offered before it.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("implementations", sa.Column("offered_at", sa.DateTime()))
    op.execute("UPDATE implementations SET offered_at = created_at")
    with op.batch_alter_table("implementations") as batch_op:
        batch_op.alter_column("offered_at", existing_type=sa.DateTime(), nullable=False)
    op.create_index(op.f("ix_implementations_interface"), "implementations", ["interface"])


def downgrade() -> None:
    op.drop_index(op.f("ix_implementations_interface"), table_name="implementations")
    with op.batch_alter_table("implementations") as batch_op:
        batch_op.drop_column("offered_at")
