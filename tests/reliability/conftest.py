from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import arkitekt
from tests.conftest import backends
from tests.processes import Process, free_port

HERE = Path(__file__).parent


@dataclass
class Platform:
    """A platform process that tests may kill and start again on the same data."""

    data_dir: Path
    port: int
    database_url: str | None
    process: Process | None = None
    url: str = ""
    token: str = ""

    def start(self) -> None:
        args = [str(HERE / "server_process.py"), str(self.data_dir), str(self.port)]
        self.process = Process(*args, *([self.database_url] if self.database_url else []))
        try:
            ready = json.loads(self.process.wait_for(r"^\{.*\}$").group(0))
        except AssertionError:
            self.process.stop()
            raise
        self.url, self.token = ready["url"], ready["token"]

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.stop()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def agent(self, name: str, instance: str, url: str | None = None) -> Process:
        """An agent process serving `app.py`; returns once it is live."""
        args = [str(HERE / "agent_process.py"), url or self.url, self.token, name, instance]
        agent = Process(*args)
        try:
            agent.wait_for(r"^live ")
        except AssertionError:
            agent.stop()
            raise
        return agent


@pytest.fixture(params=backends())
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_cluster").create_database()
    running = Platform(tmp_path / "data", free_port(), url)
    running.data_dir.mkdir()
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def caller(platform: Platform) -> AsyncIterator[arkitekt.Client]:
    async with arkitekt.connect(platform.url, platform.token) as client:
        yield client


@pytest.fixture
def agents(platform: Platform) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(name: str, instance: str, url: str | None = None) -> Process:
        started.append(platform.agent(name, instance, url))
        return started[-1]

    yield start
    for process in started:
        process.stop()
