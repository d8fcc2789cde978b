"""Helpers for testing apps and the platform: a real server on a free loopback port.

with running_server(tmp_path) as server:
    async with arkitekt.connect(server.url, server.token) as client:
        async with serving(client, add) as agent:
            assert await client.call(add, 1, 2) == 3
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runtime.agent import Agent
from .runtime.registry import Registry
from .runtime.startups import Startup
from .runtime.startups import started as _started


@dataclass(frozen=True)
class RunningPlatform:
    url: str
    token: str
    data_dir: Path
    database_url: str | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _platform: Any = None

    def sweep(self) -> None:
        """Runs one round of the platform's sweeper now (as if its interval had passed)."""
        from .server import leases

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(leases.sweep(self._platform), self._loop).result(30)

    def expire_blobs(self) -> int:
        """Frees the blobs past the retention now; returns how many."""
        from .server.retention import expire_blobs
        from .server.storage import make_backend

        assert self._loop is not None
        freed = expire_blobs(self._platform, make_backend(self._platform.settings))
        return asyncio.run_coroutine_threadsafe(freed, self._loop).result(30)

    def expire_history(self) -> int:
        """Deletes the calls past the history retention now; returns how many."""
        from .server.retention import expire_history

        assert self._loop is not None
        deleted = expire_history(self._platform)
        return asyncio.run_coroutine_threadsafe(deleted, self._loop).result(30)


@contextlib.contextmanager
def running_server(
    data_dir: Path, *, database_url: str | None = None, **options: Any
) -> Iterator[RunningPlatform]:
    """Runs the platform in a background thread with its own event loop, on a free port of
    127.0.0.1, until the block exits. `options` are other settings (`limits=Limits(...)`,
    `grace=0.0`...)."""
    from .server.serve import serve
    from .server.settings import Settings

    configured = Settings(data_dir=data_dir, port=0, database_url=database_url, **options)
    ready = threading.Event()
    result: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        result["stop"] = (asyncio.get_running_loop(), stop)
        try:
            async with serve(configured) as server:
                result["server"] = RunningPlatform(
                    server.url,
                    server.admin_token,
                    data_dir,
                    database_url,
                    asyncio.get_running_loop(),
                    server.platform,
                )
                ready.set()
                await stop.wait()
        except BaseException as error:
            result["error"] = error
            ready.set()
            raise

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="arkitekt-test-server")
    thread.start()
    ready.wait()
    if "error" in result:
        thread.join()
        raise RuntimeError("The test server failed to start.") from result["error"]
    try:
        yield result["server"]
    finally:
        loop, stop = result["stop"]
        loop.call_soon_threadsafe(stop.set)
        thread.join()


@contextlib.asynccontextmanager
async def serving(
    client: Any, *functions: Callable[..., Any], name: str = "test-app", **options: Any
) -> AsyncIterator[Agent]:
    """Serves the given functions as one live agent until the block exits; startups
    (`@startup`) among them run first, as in an app."""
    async with Agent(client, Registry.of(*functions), name=name, **options) as agent:
        yield agent


@contextlib.asynccontextmanager
async def started(*startups: Startup[Any]) -> AsyncIterator[None]:
    """Runs the startups, as an app does before it serves, for a test that calls its
    functions directly; tears them down when the block exits."""
    async with _started(startups):
        yield
