"""Releases, hosts, deployments, their logs and the tokens made for their apps.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _fk(column: str, table: str, source: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{table}.id"], name=op.f(f"fk_{source}_{column}_{table}")
    )


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("entry", sa.String(length=200), nullable=False),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("blob_id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("user_id", "users", "releases"),
        _fk("blob_id", "blobs", "releases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint(
            "user_id", "app", "version", name=op.f("uq_releases_user_id_app_version")
        ),
    )
    op.create_index(op.f("ix_releases_user_id"), "releases", ["user_id"])
    op.create_table(
        "release_functions",
        sa.Column("release_id", sa.String(length=32), nullable=False),
        sa.Column("interface", sa.String(length=200), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        _fk("release_id", "releases", "release_functions"),
        _fk("node_id", "nodes", "release_functions"),
        sa.PrimaryKeyConstraint("release_id", "interface", name=op.f("pk_release_functions")),
    )
    op.create_table(
        "hosts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("hostname", sa.String(length=200)),
        sa.Column("cpus", sa.Integer()),
        sa.Column("memory", sa.Float()),
        sa.Column("gpus", sa.JSON(), nullable=False),
        sa.Column("platform", sa.String(length=200)),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=32)),
        sa.Column("connected_at", sa.DateTime()),
        sa.Column("last_seen", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("user_id", "users", "hosts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosts")),
        sa.UniqueConstraint("name", name=op.f("uq_hosts_name")),
    )
    op.create_index(op.f("ix_hosts_user_id"), "hosts", ["user_id"])
    op.create_table(
        "host_teams",
        sa.Column("host_id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        _fk("host_id", "hosts", "host_teams"),
        _fk("team_id", "teams", "host_teams"),
        sa.PrimaryKeyConstraint("host_id", "team_id", name=op.f("pk_host_teams")),
    )
    op.create_index(op.f("ix_host_teams_team_id"), "host_teams", ["team_id"])
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("host_id", sa.String(length=32), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("release_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column("agent_id", sa.String(length=32)),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        _fk("host_id", "hosts", "deployments"),
        _fk("release_id", "releases", "deployments"),
        _fk("user_id", "users", "deployments"),
        _fk("agent_id", "agents", "deployments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("host_id", "app", name=op.f("uq_deployments_host_id_app")),
    )
    op.create_index(op.f("ix_deployments_user_id"), "deployments", ["user_id"])
    op.create_table(
        "deployment_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("deployment_id", "deployments", "deployment_logs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_logs")),
    )
    op.create_index(
        op.f("ix_deployment_logs_deployment_id_id"), "deployment_logs", ["deployment_id", "id"]
    )
    op.create_table(
        "deployment_tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        _fk("token_id", "tokens", "deployment_tokens"),
        _fk("deployment_id", "deployments", "deployment_tokens"),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_deployment_tokens")),
    )
    op.create_index(
        op.f("ix_deployment_tokens_deployment_id"), "deployment_tokens", ["deployment_id"]
    )


def downgrade() -> None:
    for table in (
        "deployment_tokens",
        "deployment_logs",
        "deployments",
        "host_teams",
        "hosts",
        "release_functions",
        "releases",
    ):
        op.drop_table(table)
