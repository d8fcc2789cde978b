"""How many bytes each user's blobs hold, counted as objects are stored and blobs freed:
what a per-user storage quota is checked against.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("stored_bytes", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.execute(
        "UPDATE users SET stored_bytes = ("
        " SELECT COALESCE(SUM(o.size), 0) FROM blob_objects o"
        " JOIN blobs b ON b.id = o.blob_id WHERE b.user_id = users.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("stored_bytes")
