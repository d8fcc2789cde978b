"""Upgrading a database that holds data, one migration at a time, keeps the data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from arkitekt.server.db import make_engine, migrate_to
from tests import postgres
from tests.conftest import backends

ROWS = [
    "INSERT INTO users (id, name, is_admin, created_at) VALUES ('u', 'ada', true, '2026-01-01')",
    "INSERT INTO nodes (id, hash, name, kind, args, returns, created_at)"
    " VALUES ('n', 'h', 'add', 'FUNCTION', '[]', '[]', '2026-01-01')",
    "INSERT INTO agents (id, user_id, name, instance, status, created_at)"
    " VALUES ('a', 'u', 'app', 'i', 'CONNECTED', '2026-01-01')",
    "INSERT INTO implementations (id, agent_id, node_id, interface, active, created_at)"
    " VALUES ('i', 'a', 'n', 'add', true, '2026-01-01')",
    "INSERT INTO reservations (id, user_id, node_id, strategy, min_instances, agents, implicit,"
    " created_at) VALUES ('r', 'u', 'n', 'ROUND_ROBIN', 1, '[]', true, '2026-01-01')",
    "INSERT INTO assignations (id, user_id, node_id, reservation_id, args, status, sequence,"
    " created_at, updated_at) VALUES ('s', 'u', 'n', 'r', '{}', 'DONE', 1, '2026-01-01',"
    " '2026-01-01')",
    "INSERT INTO assignation_events (assignation_id, sequence, kind, returns, created_at)"
    " VALUES ('s', 1, 'YIELD', '[7]', '2026-01-01')",
    "INSERT INTO assignation_events (assignation_id, sequence, kind, created_at)"
    " VALUES ('s', 2, 'DONE', '2026-01-01')",
]


def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database of the backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'arkitekt.db'}"
    cluster: postgres.Cluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database()


@pytest.mark.parametrize("backend", backends())
def test_upgrading_a_database_with_data_keeps_it(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(database_url(backend, tmp_path, request))
    migrate_to(engine, "0001")
    with engine.begin() as connection:
        for row in ROWS:
            connection.execute(sa.text(row))
    migrate_to(engine, "head")
    with engine.connect() as connection:
        node = connection.execute(sa.text("SELECT name, idempotent FROM nodes")).one()
        assert tuple(node) == ("add", False)
        agent = connection.execute(sa.text("SELECT instance, epoch FROM agents")).one()
        assert tuple(agent) == ("i", 0)
        events = connection.execute(
            sa.text("SELECT kind, yields FROM assignation_events ORDER BY sequence")
        ).all()
        kinds_and_yields = [
            (kind, json.loads(y) if isinstance(y, str) else y) for kind, y in events
        ]
        assert kinds_and_yields == [("YIELD", [[7]]), ("DONE", None)]
    engine.dispose()


@pytest.mark.parametrize("backend", backends())
def test_the_migrations_make_the_tables_the_server_uses(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from arkitekt.server.tables import metadata

    engine = make_engine(database_url(backend, tmp_path, request))
    migrate_to(engine, "head")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []
