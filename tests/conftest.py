from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import arkitekt
from arkitekt.testing import RunningPlatform, running_server
from tests import postgres


def backends() -> list[str]:
    """The databases the suite runs on: SQLite always, PostgreSQL where it is installed
    (`ARKITEKT_TEST_BACKENDS` chooses; CI sets `ARKITEKT_REQUIRE_POSTGRES=1`)."""
    chosen = os.environ.get("ARKITEKT_TEST_BACKENDS")
    if chosen:
        return chosen.split(",")
    if postgres.binaries() is not None:
        return ["sqlite", "postgresql"]
    if os.environ.get("ARKITEKT_REQUIRE_POSTGRES"):
        raise RuntimeError("PostgreSQL is required but not installed: apt-get install postgresql")
    return ["sqlite"]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[postgres.Cluster]:
    with postgres.cluster() as running:
        yield running


@pytest.fixture(scope="session", params=backends())
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPlatform]:
    """One real platform per database backend for the session, on a free port."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_cluster").create_database()
    with running_server(tmp_path_factory.mktemp("platform"), database_url=url) as running:
        yield running


@pytest.fixture
async def client(server: RunningPlatform) -> AsyncIterator[arkitekt.Client]:
    async with arkitekt.connect(server.url, server.token) as connected:
        yield connected


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config file and data folder, so tests never touch the user's."""
    monkeypatch.setenv("ARKITEKT_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setenv("ARKITEKT_DATA_DIR", str(tmp_path / "data"))
    for name in ("ARKITEKT_URL", "ARKITEKT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "config.json"


def pytest_configure(config: pytest.Config) -> None:
    # Never read or write the user's config: point at a file that does not exist.
    os.environ["ARKITEKT_CONFIG"] = str(Path(config.rootpath) / ".pytest-no-config.json")
    # Nor its data: the instance ids of the apps tests run, a host's releases.
    os.environ["ARKITEKT_DATA_DIR"] = tempfile.mkdtemp(prefix="arkitekt-tests-")
