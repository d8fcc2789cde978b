"""Instance ids that outlive a process: an app restarted on the same machine (by hand, by
`arkitekt host`, after a crash) serves as the same agent again, instead of leaving one
more disconnected agent behind on every start.

Each (platform, user, app name) has numbered slots in a folder of this machine; a process
holds the lock of the first free slot for as long as it runs, so instances running side by
side never share an id, and the next start takes the slot a stopped one freed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from arkitekt.config import data_dir

if sys.platform != "win32":  # no flock there: every start is a new instance
    import fcntl

MAX_SLOTS = 64


def folder() -> Path:
    return data_dir() / "instances"


@contextlib.contextmanager
def claim_instance(url: str, user: str, name: str) -> Iterator[str]:
    """The id of the first free instance slot of this app, held until the block ends.

    The user is part of the key (another user's instance may not be taken over), not the
    token: an app that a host starts with a new token after a reboot is the same agent."""
    key = hashlib.sha256(f"{url}\n{user}\n{name}".encode()).hexdigest()[:16]
    for slot in range(MAX_SLOTS if sys.platform != "win32" else 0):
        with _locked(folder() / f"{key}-{slot}") as claimed:
            if claimed is not None:
                yield claimed
                return
    yield uuid.uuid4().hex


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[str | None]:
    """The instance id kept in `path`, while this process holds its lock; None when
    another process holds it (or the folder is not writable)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield None
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield None
            return
        instance = os.read(descriptor, 64).decode(errors="replace").strip()
        if not instance:
            instance = uuid.uuid4().hex
            os.write(descriptor, instance.encode())
        yield instance
    finally:
        os.close(descriptor)  # releases the lock
