"""Reloading an app while it runs: the file, the local modules it imports, and what changed.

    reloader = Reloader("app.py")
    registry = reloader.load()
    async for changed in reloader.changes():
        registry = reloader.load()   # raises AppError; the previous registry is untouched

`arkitekt dev` pairs this with `Agent.update`, so that a reload re-registers the same
instance and only the functions whose nodes changed change on the platform.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

from .apps import load_app
from .registry import Registry

# A change is reported once the files have been quiet this long (milliseconds): editors
# often write a file in several steps.
QUIET = 50
# How often the watcher thread checks that it should stop (milliseconds): bounds how long
# leaving `changes()` takes.
POLL = 500
_INSTALLED = frozenset({"site-packages", "dist-packages"})


@dataclass(frozen=True)
class Changes:
    """How one registry differs from the previous one, by interface name."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]

    @classmethod
    def between(cls, old: Registry, new: Registry) -> Changes:
        before = {i.interface: i.node.hash for i in old}
        after = {i.interface: i.node.hash for i in new}
        return cls(
            added=tuple(name for name in after if name not in before),
            changed=tuple(n for n in after if n in before and before[n] != after[n]),
            removed=tuple(name for name in before if name not in after),
            unchanged=tuple(n for n in after if n in before and before[n] == after[n]),
        )


class Reloader:
    """An app file and the local modules it imports, loaded afresh on demand.

    Local modules are those the app imported from its own folder (not installed packages):
    they are imported anew on each load, so that an edit to a helper module counts.

    Args:
        path: The app file.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()
        self._modules: dict[str, Path] = {}
        self._stamps: dict[Path, tuple[int, int] | None] = {}
        self._stop = threading.Event()

    @property
    def files(self) -> frozenset[Path]:
        """The files whose changes `changes()` reports."""
        return frozenset({self.path, *self._modules.values()})

    def load(self) -> Registry:
        """Imports the app and its local modules afresh and returns what it registered.

        Raises:
            AppError: The app cannot be imported; the message says where and why.
        """
        for name, file in self._modules.items():
            sys.modules.pop(name, None)
            _forget_bytecode(file)
        _forget_bytecode(self.path)
        before = set(sys.modules)
        stamps = {file: _stamp(file) for file in self.files}
        try:
            registry = load_app(self.path)
        except BaseException:
            # Keep watching what the last good version imported, so that fixing it counts.
            self._modules |= self._local_modules(before)
            raise
        else:
            self._modules = self._local_modules(before)
        finally:
            # What was loaded: an edit made from now on is a change, even one that lands
            # before the watcher starts.
            self._stamps = {file: stamps.get(file) or _stamp(file) for file in self.files}
        return registry

    def _stale(self) -> frozenset[Path]:
        """The watched files that differ from what the last load read."""
        return frozenset(f for f in self.files if _stamp(f) != self._stamps.get(f, _stamp(f)))

    def _local_modules(self, before: set[str]) -> dict[str, Path]:
        found = {}
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None)
            if file is None:
                continue
            resolved = Path(file).resolve()
            if resolved.is_relative_to(self.path.parent) and not _INSTALLED & set(resolved.parts):
                found[name] = resolved
        return found

    async def changes(self) -> AsyncGenerator[frozenset[Path], None]:
        """Yields the watched files that changed, each time some did, until `close()`."""
        import watchfiles

        self._stop.clear()
        while not self._stop.is_set():
            watched = self.files

            def relevant(
                _: watchfiles.Change, path: str, watched: frozenset[Path] = watched
            ) -> bool:
                return Path(path) in watched

            folders = {file.parent for file in watched}
            # Every POLL without events, the files' stamps are compared too: that catches an
            # edit made while the watcher was (re)starting.
            async for batch in watchfiles.awatch(
                *folders,
                watch_filter=relevant,
                recursive=False,
                step=QUIET,
                rust_timeout=POLL,
                yield_on_timeout=True,
                stop_event=self._stop,
            ):
                changed = frozenset(Path(path) for _, path in batch) or self._stale()
                if changed:
                    yield changed
                if self.files != watched:
                    break  # the app imports other files now: watch those

    def close(self) -> None:
        """Ends `changes()` within a moment, from any thread."""
        self._stop.set()


def _forget_bytecode(source: Path) -> None:
    # Cached bytecode is trusted when the source's mtime (in whole seconds) and size match:
    # an edit within the same second that keeps the size would load the old code.
    with contextlib.suppress(OSError, ValueError):
        Path(importlib.util.cache_from_source(str(source))).unlink()


def _stamp(file: Path) -> tuple[int, int] | None:
    try:
        stat = file.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
