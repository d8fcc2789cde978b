"""Release bundles: an app folder as one versioned file that any host can run.

    bundle = build(Path("cell-counter"))            # dist/cell-counter-0.1.0.tar.gz
    manifest = bundle.manifest                       # app, version, entry, requirements...

A bundle is a gzipped tar of the app's folder (without virtualenvs, caches and build
output) with `arkitekt-release.json` at its root: the app's name and version and its
requirements (from its `pyproject.toml`), the file that `arkitekt run` serves, and the
definitions of its functions (what `arkitekt inspect` prints). The same folder gives the
same bytes: files are sorted and their times and owners are left out.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import tarfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arkitekt.errors import ArkitektError

MANIFEST = "arkitekt-release.json"
BUNDLE_KEY = "bundle.tar.gz"
"""The object of a release's blob that holds its bundle."""
SKIPPED = {
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "dist",
    "build",
    "node_modules",
}
"""Folders a bundle leaves out: environments, caches and build output."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class ReleaseError(ArkitektError, ValueError):
    """An app folder or a bundle cannot make a release; the message says what to fix."""


@dataclass(frozen=True)
class Manifest:
    """What a release is: read from its app's folder, stored in its bundle."""

    app: str
    version: str
    entry: str
    """The app file `arkitekt run` serves, relative to the bundle's root."""
    requirements: list[str] = field(default_factory=list)
    """PEP 508 requirements of its environment, besides arkitekt."""
    functions: list[dict[str, Any]] = field(default_factory=list)
    """The definitions of its functions, as `arkitekt inspect --json` prints them."""

    def to_json(self) -> str:
        return json.dumps(vars(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        data = json.loads(text)
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest

    @property
    def digest(self) -> str:
        return file_digest(self.path)


def file_digest(path: Path) -> str:
    """The sha256 of a file, in lowercase hex."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def is_arkitekt(requirement: str) -> bool:
    """Whether a requirement names arkitekt itself (which hosts install their own way)."""
    match = _REQUIREMENT_NAME.match(requirement)
    return match is not None and re.sub(r"[-_.]+", "-", match[1]).lower() == "arkitekt"


def read_project(folder: Path, version: str | None = None) -> Manifest:
    """The release an app folder makes, without its functions (see `build`).

    Raises:
        ReleaseError: No pyproject.toml, no name or version, or no app file to serve.
    """
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        raise ReleaseError(
            f"No pyproject.toml in {folder}: a release is built from an app folder "
            "(`arkitekt init NAME` makes one)."
        )
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ReleaseError(f"{pyproject} is not valid TOML: {error}") from error
    project = data.get("project", {})
    app, version = project.get("name"), version or project.get("version")
    for key, value in (("name", app), ("version", version)):
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise ReleaseError(f"{pyproject}: [project] needs a {key} (letters, digits, . _ + -).")
    assert isinstance(app, str)
    assert isinstance(version, str)
    requirements = [str(r) for r in project.get("dependencies", []) if not is_arkitekt(str(r))]
    listed = folder / "requirements.txt"
    if listed.is_file():
        for line in listed.read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-") and not is_arkitekt(line):
                requirements.append(line)
    return Manifest(app, version, _entry(folder, data, app), requirements)


def _entry(folder: Path, data: dict[str, Any], app: str) -> str:
    configured = data.get("tool", {}).get("arkitekt", {}).get("app")
    if configured is not None:
        if not (folder / str(configured)).is_file():
            raise ReleaseError(f"[tool.arkitekt] app = {configured!r}: no such file in {folder}.")
        return str(configured)
    module = re.sub(r"\W+", "_", app).strip("_").lower()  # as `arkitekt init` names it
    for candidate in (f"{module}.py", f"app_{module}.py", "app.py"):
        if (folder / candidate).is_file():
            return candidate
    raise ReleaseError(
        f"Which file is the app in {folder}? Name it in pyproject.toml: "
        '[tool.arkitekt] app = "my_app.py".'
    )


def files(folder: Path) -> Iterator[Path]:
    """The files a bundle holds, sorted, relative to the folder."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part in SKIPPED or part.endswith(".egg-info") for part in relative.parts):
            continue
        if path.is_file() and not path.is_symlink() and path.suffix != ".pyc":
            yield relative


def build(folder: Path, output: Path | None = None, *, version: str | None = None) -> Bundle:
    """Writes the release bundle of an app folder; returns it.

    Args:
        folder: The app's folder, with its pyproject.toml.
        output: Where to write the bundle; default `dist/APP-VERSION.tar.gz` in the folder.
        version: Overrides the version in pyproject.toml.

    Raises:
        ReleaseError: The folder makes no release (the message says why).
        AppError: The app file cannot be loaded.
    """
    from .apps import load_app
    from .catalogue import definitions

    folder = folder.resolve()
    manifest = read_project(folder, version)
    registry = load_app(folder / manifest.entry)
    manifest = Manifest(
        manifest.app, manifest.version, manifest.entry, manifest.requirements, definitions(registry)
    )
    output = output or folder / "dist" / f"{manifest.app}-{manifest.version}.tar.gz"
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    # mtime=0 and no file name in the gzip header: the same folder gives the same bytes.
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        _add(tar, MANIFEST, manifest.to_json().encode())
        for relative in files(folder):
            _add(tar, relative.as_posix(), (folder / relative).read_bytes())
    partial.replace(output)
    return Bundle(output, manifest)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def read_manifest(path: Path) -> Manifest:
    """The manifest of a bundle file.

    Raises:
        ReleaseError: It is not a release bundle.
    """
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            assert member is not None
            return Manifest.from_json(member.read())
    except (tarfile.TarError, KeyError, AssertionError, ValueError, OSError) as error:
        raise ReleaseError(f"{path} is not a release bundle ({error}).") from error


def unpack(path: Path, folder: Path) -> Manifest:
    """Unpacks a bundle into `folder` (which must not exist yet); returns its manifest."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted unpacking
    with tarfile.open(path, "r:gz") as tar:
        tar.extractall(partial, filter="data")  # no absolute paths, links out or devices
    partial.replace(folder)
    return Manifest.from_json((folder / MANIFEST).read_bytes())
