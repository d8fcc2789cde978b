"""The `arkitekt` command run as users run it: separate processes against a real server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from arkitekt.testing import RunningPlatform

from .processes import Process


@pytest.fixture
def env(server: RunningPlatform, isolated_config: Path) -> dict[str, str]:
    """The environment of a user whose config points at the test server."""
    return {
        **os.environ,
        "ARKITEKT_URL": server.url,
        "ARKITEKT_TOKEN": server.token,
        # Shell snippets call `arkitekt` by name: the one installed beside this interpreter.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Processes started in a test; all stopped at its end."""
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()
