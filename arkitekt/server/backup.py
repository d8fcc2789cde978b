"""A consistent copy of an embedded platform, taken while it serves: its database as one
snapshot, and the blobs that snapshot knows.

    arkitekt backup /mnt/backup/arkitekt-2026-12-06
    arkitekt server --data-dir /mnt/backup/arkitekt-2026-12-06   # serves the copy

SQLite's online backup reads the database in one read transaction, which in WAL mode never
holds up the server's writes. Blobs are written once, so the objects the snapshot lists,
copied after it, are exactly what it refers to. A blob freed in between (a retention ran)
is left out, rows and all, as the platform itself left it.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from . import tables
from .db import is_postgres
from .retention import forget
from .settings import Settings
from .storage import LocalBackend, make_backend

DATABASE = "arkitekt.db"


class BackupError(Exception):
    """What keeps a backup from being taken, and what to do instead."""


@dataclass
class Backup:
    destination: Path
    calls: int = 0
    blobs: int = 0
    size: int = 0
    """Bytes of the blobs copied."""
    lost: list[str] = field(default_factory=list)
    """Blobs whose bytes were gone from storage (freed while the backup ran): left out."""
    bucket: str | None = None
    """Where the blobs stay when they are not in a folder (a bucket backs itself up)."""


def planned_size(settings: Settings) -> int:
    """Bytes of blobs a backup would copy now (for a progress bar's total)."""
    database = _database(settings)
    with contextlib.closing(_read_only(database)) as db:
        (size,) = db.execute("SELECT coalesce(sum(size), 0) FROM blob_objects").fetchone()
    return int(size)


def back_up(
    settings: Settings, destination: Path, advance: Callable[[int], None] = lambda _: None
) -> Backup:
    """Copies the platform of `settings` into `destination`, a new folder laid out as a
    data directory; `advance` hears the bytes of each object copied.

    Raises:
        BackupError: The database is not embedded, there is none, or `destination` holds
            something already.
    """
    database = _database(settings)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise BackupError(f"{destination} is not empty: a backup goes into a new folder.")
    try:
        destination.mkdir(parents=True, exist_ok=True)
        return _copy(database, settings, destination, advance)
    except BaseException:
        # Half a backup looks like a whole one: leave nothing rather than that.
        for each in destination.iterdir():
            if each.is_dir():
                shutil.rmtree(each)
            else:
                each.unlink()
        raise


def _copy(
    database: Path, settings: Settings, destination: Path, advance: Callable[[int], None]
) -> Backup:
    copy = destination / DATABASE
    _snapshot(database, copy)
    engine = sa.create_engine(f"sqlite:///{copy}")
    try:
        with engine.begin() as connection:
            backup = _copy_blobs(connection, settings, destination, advance)
            forget(connection, backup.lost)
            backup.calls = _count(connection, tables.assignations)
            backup.blobs = _count(connection, tables.blobs)
    finally:
        engine.dispose()
    return backup


def _count(connection: sa.Connection, table: sa.Table) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _database(settings: Settings) -> Path:
    if settings.database_url and is_postgres(settings.database_url):
        raise BackupError(
            "This platform keeps its data in PostgreSQL: back it up with pg_dump "
            "(pg_dump --format=custom --file=arkitekt.dump DATABASE), and its blobs with "
            "the tools of their storage."
        )
    database = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
    if not database.is_file():
        raise BackupError(f"There is no platform database at {database}: pass --data-dir.")
    return database


def _read_only(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)


def _snapshot(database: Path, copy: Path) -> None:
    """The whole database as of one moment, written to `copy`."""
    source = _read_only(database)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)  # in one step: a step at a time restarts on every write
    finally:
        target.close()
        source.close()


def _copy_blobs(
    connection: sa.Connection,
    settings: Settings,
    destination: Path,
    advance: Callable[[int], None],
) -> Backup:
    backup = Backup(destination)
    backend = make_backend(settings)
    o = tables.blob_objects
    objects = connection.execute(sa.select(o).order_by(o.c.blob_id)).all()
    if not isinstance(backend, LocalBackend):
        backup.bucket = settings.storage_url
        return backup
    into = LocalBackend(destination / "blobs")
    copied: dict[str, int] = {}
    lost: set[str] = set()
    for each in objects:
        if each.blob_id in lost:
            continue
        path = f"{each.blob_id}/{each.key}"
        target = into.file_of(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(backend.file_of(path), target)
        except FileNotFoundError:
            lost.add(each.blob_id)
            continue
        copied[each.blob_id] = copied.get(each.blob_id, 0) + each.size
        advance(each.size)
    for blob in lost:
        shutil.rmtree(into.file_of(blob), ignore_errors=True)
        copied.pop(blob, None)
    backup.lost = sorted(lost)
    backup.size = sum(copied.values())
    return backup
