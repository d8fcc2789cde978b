"""Virtual environments for releases, built once and kept: a host's cache.

An app's environment holds arkitekt, installed from the same source as the host's own
(its project folder for an editable install, the wheel it came from, or the same version
from the package index), and the release's requirements. What that takes is built once:

    <cache>/wheels/<source key>/    arkitekt's wheel and its dependencies' wheels
    <cache>/envs/<key>/             one environment per set of requirements (with python)

so that an environment installs arkitekt from local wheels, without the index, and a
release whose requirements were seen before (an upgrade that changed only code) starts
at once. Environments are built under a temporary name and renamed when complete: an
interrupted build is never mistaken for a finished one. A lock file beside each lets host
processes that share a cache build it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from arkitekt.errors import ArkitektError

SOURCE_FILES = ("pyproject.toml", "arkitekt", "schema")
"""What, in a project folder, makes arkitekt's wheel: its key hashes them."""


class EnvironmentBuildError(ArkitektError):
    """An environment could not be built; the message holds pip's complaint."""


def arkitekt_source() -> str:
    """Where this arkitekt came from, as pip takes it: a folder, a wheel, or `arkitekt==V`."""
    distribution = importlib.metadata.distribution("arkitekt")
    direct = distribution.read_text("direct_url.json")
    if direct:
        url = json.loads(direct).get("url", "")
        if url.startswith("file://"):
            path = Path(unquote(urlparse(url).path))
            if path.exists():
                return str(path)
    return f"arkitekt=={distribution.version}"


def source_key(source: str) -> str:
    """Changes whenever the source would build another arkitekt."""
    digest = hashlib.sha256()
    path = Path(source)
    if path.is_dir():  # by content: another checkout of the same code builds the same
        for name in SOURCE_FILES:
            top = path / name
            for file in sorted([top] if top.is_file() else top.rglob("*")):
                if file.is_file() and "__pycache__" not in file.parts:
                    digest.update(str(file.relative_to(path)).encode())
                    digest.update(file.read_bytes())
    elif path.is_file():
        digest.update(path.read_bytes())
    else:
        digest.update(source.encode())
    return digest.hexdigest()[:16]


async def _pip(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pip",
        *args,
        "--quiet",
        "--disable-pip-version-check",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        text = output.decode(errors="replace").strip()
        raise EnvironmentBuildError(f"pip {args[0]} failed: {text[-2000:]}")


class Environments:
    """The environments of one host, under `cache`.

    Builds of the same environment wait for each other; different ones may run at once.
    """

    def __init__(self, cache: Path, source: str | None = None) -> None:
        self.cache = cache
        self.source = source or arkitekt_source()
        self._key = source_key(self.source)
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def _building(self, folder: Path) -> AsyncIterator[None]:
        """Holds the right to build `folder`: in this process, and in every other host
        process sharing the cache (a lock file)."""
        async with self._locks.setdefault(str(folder), asyncio.Lock()):
            folder.parent.mkdir(parents=True, exist_ok=True)
            with folder.with_name(folder.name + ".lock").open("w") as lock:
                await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    async def wheelhouse(self) -> Path:
        """arkitekt's wheel and its dependencies', built or downloaded once."""
        folder = self.cache / "wheels" / self._key
        async with self._building(folder):
            if not folder.is_dir():
                partial = folder.with_name(folder.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                await _pip("wheel", "--wheel-dir", str(partial), self.source)
                partial.replace(folder)
        return folder

    async def environment(self, requirements: list[str]) -> Path:
        """The python of an environment with arkitekt and `requirements`."""
        wheels = await self.wheelhouse()
        described = json.dumps([self._key, sys.version, sorted(requirements)])
        folder = self.cache / "envs" / hashlib.sha256(described.encode()).hexdigest()[:16]
        python = folder / "bin" / "python"
        async with self._building(folder):
            if not folder.is_dir():
                partial = folder.with_name(folder.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                await self._build(partial, wheels, requirements)
                partial.replace(folder)
        return python

    async def _build(self, folder: Path, wheels: Path, requirements: list[str]) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "venv", "--without-pip", str(folder)
        )
        if await process.wait() != 0:
            raise EnvironmentBuildError(f"python -m venv {folder} failed")
        python = str(folder / "bin" / "python")
        # arkitekt comes from the wheelhouse alone: never another project of that name.
        await _pip(
            "--python", python, "install", "--no-index", "--find-links", str(wheels), "arkitekt"
        )
        if requirements:
            await _pip("--python", python, "install", "--find-links", str(wheels), *requirements)
