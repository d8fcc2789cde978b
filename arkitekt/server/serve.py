"""Running the platform: `serve()` starts uvicorn and returns once the port is bound."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import IO, Any

import sqlalchemy as sa
import uvicorn

from .app import create_app
from .db import is_postgres, sync_url
from .settings import Settings

try:
    import fcntl

    LOCKING = True
except ImportError:  # Windows: no advisory locks; one server per database is then on you
    LOCKING = False


class AlreadyServing(RuntimeError):
    """Another server holds this SQLite database."""


class _Server(uvicorn.Server):
    """Reports readiness and the request to stop through events instead of flags to poll."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self.exiting = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn raises a caught Ctrl-C again once it stopped; the platform stops gracefully
        # instead (its agents first), so there is nothing left to raise.
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.exiting.set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:  # a failed lifespan start-up sets should_exit
            self.ready.set()


@dataclass(frozen=True)
class RunningServer:
    settings: Settings
    url: str
    admin_token: str
    """An admin token: `settings.admin_token` if it still works, else a new one."""
    new_token: bool
    """Whether `admin_token` was made by this start."""
    _server: _Server

    @property
    def platform(self) -> Any:
        """The running `Platform` (for tests that drive its sweeper by hand)."""
        app: Any = self._server.config.app
        return app.state.platform

    async def wait_exiting(self) -> None:
        """Returns when the server was asked to stop (Ctrl-C, SIGTERM, or `stop()`)."""
        await self._server.exiting.wait()

    def stop(self) -> None:
        self._server.handle_exit(0, None)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listener's proto says TCP; without it, Nagle adds ~40 ms to small responses.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def sole_server(settings: Settings) -> Iterator[IO[str] | None]:
    """Holds a lock beside the SQLite database while serving, and yields its file, for
    the server to say where it listens. SQLite has one writer, and a platform on it routes
    calls to the agents it holds: a second server on the same database would take calls
    its agents never see. Replicas share PostgreSQL by design: no lock there.

    Raises:
        AlreadyServing: Another server holds the database; the message says which.
    """
    url = sa.make_url(sync_url(settings.resolved_database_url))
    if is_postgres(str(url)) or not LOCKING or url.database in (None, "", ":memory:"):
        yield None
        return
    lock = Path(f"{url.database}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "starting"
            raise AlreadyServing(
                f"another arkitekt server uses {url.database} ({holder}); stop it, or give "
                "this one its own --data-dir"
            ) from None
        yield handle  # the lock goes with the file: when the block ends, or the process


@contextlib.asynccontextmanager
async def serve(settings: Settings, *, log_level: str = "warning") -> AsyncIterator[RunningServer]:
    """Serves the platform until the block exits. Port 0 picks a free port.

    Raises:
        AlreadyServing: Another server uses the same SQLite database.
    """
    with sole_server(settings) as lock:
        async with _serve(settings, log_level) as running:
            if lock is not None:
                lock.truncate(0)
                lock.write(f"{running.url}, process {os.getpid()}\n")
                lock.flush()
            yield running


@contextlib.asynccontextmanager
async def _serve(settings: Settings, log_level: str) -> AsyncIterator[RunningServer]:
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    settings = replace(settings, port=port)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=2,
        # Longer than clients keep idle connections (aiohttp: 15 s), so that the client
        # closes them first: a request sent as the server closes would fail.
        timeout_keep_alive=30,
        ws_max_size=settings.limits.request_size,  # bigger messages close with 1009
        # A connection that answers no ping for a heartbeat is dead: its agent's grace starts.
        ws_ping_interval=settings.heartbeat,
        ws_ping_timeout=settings.heartbeat,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="arkitekt-server")
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        await task  # raises the startup error
        raise RuntimeError("The server stopped during start-up.")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        url = f"http://{host}:{port}"
        token = app.state.admin_token
        yield RunningServer(settings, url, token, token != settings.admin_token, server)
    finally:
        server.should_exit = True
        await task
        sock.close()
