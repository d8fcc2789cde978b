from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import arkitekt
from arkitekt.testing import RunningPlatform, running_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """One real platform for the session: SQLite in a temporary folder, a free port."""
    with running_server(tmp_path_factory.mktemp("platform")) as running:
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
