"""Upgrading a database that holds data, one migration at a time, keeps the data."""

from __future__ import annotations

import json
from collections.abc import Iterator
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


STORED = [
    *(
        "INSERT INTO users (id, name, is_admin, created_at)"
        f" VALUES ('{u}', '{u}', false, '2026-01-01')"
        for u in ("ada", "bob", "cy")
    ),
    *(
        f"INSERT INTO blobs (id, user_id, created_at) VALUES ('{b}', '{u}', '2026-01-01')"
        for b, u in (("b1", "ada"), ("b2", "ada"), ("b3", "bob"))
    ),
    *(
        "INSERT INTO blob_objects (blob_id, key, size, media_type, created_at)"
        f" VALUES ('{b}', '{k}', {size}, 'x', '2026-01-01')"
        for b, k, size in (("b1", "a", 10), ("b1", "b", 20), ("b2", "a", 5), ("b3", "a", 7))
    ),
]


@pytest.fixture(params=backends())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database of each backend."""
    engine = make_engine(database_url(request.param, tmp_path, request))
    yield engine
    engine.dispose()


def upgraded(engine: sa.Engine, revision: str, rows: list[str]) -> None:
    """Fills a database at `revision` with `rows`, then upgrades it to the newest."""
    migrate_to(engine, revision)
    with engine.begin() as connection:
        for row in rows:
            connection.execute(sa.text(row))
    migrate_to(engine, "head")


def test_upgrading_a_database_with_data_keeps_it(engine: sa.Engine) -> None:
    upgraded(engine, "0001", ROWS)
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
        # Calls from before calls ended with their callers run on as they did.
        detached = connection.execute(sa.text("SELECT detached, followed_at FROM assignations"))
        assert [(bool(d), f) for d, f in detached] == [(True, None)]


def test_what_users_store_is_counted_when_quotas_arrive(engine: sa.Engine) -> None:
    upgraded(engine, "0007", STORED)
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT id, stored_bytes FROM users ORDER BY id"))
        assert [tuple(row) for row in stored] == [("ada", 35), ("bob", 7), ("cy", 0)]


def test_the_migrations_make_the_tables_the_server_uses(engine: sa.Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from arkitekt.server.tables import metadata

    migrate_to(engine, "head")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
