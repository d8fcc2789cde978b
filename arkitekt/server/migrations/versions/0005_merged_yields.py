"""YIELD events carry a list of yields (agents merge the yields that queue up).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

events = sa.table(
    "assignation_events",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("yields", sa.JSON),
)


def upgrade() -> None:
    op.execute("ALTER TABLE assignation_events RENAME COLUMN returns TO yields")
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(events.c.id, events.c.yields).where(events.c.kind == "YIELD")
    ).all()
    for row in rows:  # one yield's values become a list of one yield
        connection.execute(
            events.update().where(events.c.id == row.id).values(yields=[row.yields])
        )


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(events.c.id, events.c.yields).where(events.c.kind == "YIELD")
    ).all()
    for row in rows:  # keeps the first yield of each event
        first = row.yields[0] if row.yields else None
        connection.execute(events.update().where(events.c.id == row.id).values(yields=first))
    op.execute("ALTER TABLE assignation_events RENAME COLUMN yields TO returns")
