"""What the built-in structures share: a reference into central storage, once there is
one, and blocking access for synchronous code running in worker threads."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from arkitekt.errors import StructureError
from arkitekt.runtime.storage import Storage, current_storage

T = TypeVar("T")


class Stored:
    """A value that is, or will be, a blob on the platform."""

    def __init__(self) -> None:
        self._reference: str | None = None
        self._storage: Storage | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def reference(self) -> str | None:
        """The blob's id, once the value is stored; shrinking again reuses it."""
        return self._reference

    def _stored(self, reference: str, storage: Storage) -> None:
        self._reference, self._storage = reference, storage
        self._loop = asyncio.get_running_loop()

    def _target(self) -> Storage:
        """The storage that holds the value (when expanded), else the current one."""
        return self._storage or current_storage()

    def _blocking(self, coroutine: Coroutine[Any, Any, T], instead: str) -> T:
        """Runs I/O from synchronous code: on the loop that expanded the value, while the
        calling thread waits. Refuses on that loop itself, which would wait for itself; from
        another loop's thread (a notebook using the blocking client) it reads, as sync code
        does."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self._loop:
            coroutine.close()
            raise StructureError(f"This would block the event loop: use `{instead}` instead.")
        if self._loop is None or self._loop.is_closed() or not self._loop.is_running():
            coroutine.close()
            raise StructureError(
                "The client that expanded this value is closed; expand it again to read it."
            )
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
