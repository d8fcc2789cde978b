"""Release bundles: what an app folder makes, byte for byte, and what it refuses."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from arkitekt.runtime.releases import MANIFEST, ReleaseError, build, read_manifest, unpack

from .apps import make_app


def test_a_bundle_holds_the_app_its_requirements_and_its_functions(tmp_path: Path) -> None:
    folder = tmp_path / "counter"
    module = make_app(folder, marker="m")
    (folder / "requirements.txt").write_text("tomli-w>=1  # for TOML\n-e ../local\narkitekt\n")
    for junk in (".venv/lib/x.py", "__pycache__/a.pyc", "dist/old.tar.gz", "x.egg-info/PKG"):
        (folder / junk).parent.mkdir(parents=True, exist_ok=True)
        (folder / junk).write_text("junk")
    bundle = build(folder)
    manifest = bundle.manifest
    assert (manifest.app, manifest.version, manifest.entry) == ("counter", "0.1.0", module)
    assert manifest.requirements == ["tomli-w>=1"]  # arkitekt comes with every host
    assert [f["interface"] for f in manifest.functions] == ["shout"]
    assert manifest.functions[0]["args"][0]["key"] == "text"
    with tarfile.open(bundle.path) as tar:
        names = sorted(tar.getnames())
    assert names == sorted(
        [MANIFEST, module, "README.md", ".gitignore", "pyproject.toml", "requirements.txt"]
    )
    assert read_manifest(bundle.path) == manifest
    unpacked = unpack(bundle.path, tmp_path / "unpacked")
    assert unpacked == manifest
    assert (tmp_path / "unpacked" / module).read_text() == (folder / module).read_text()


def test_the_same_folder_gives_the_same_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "counter"
    make_app(folder, marker="m")
    first = build(folder, tmp_path / "first.tar.gz")
    (folder / "pyproject.toml").touch()  # a newer time changes nothing
    second = build(folder, tmp_path / "second.tar.gz")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.digest == second.digest
    assert build(folder, tmp_path / "third.tar.gz", version="0.2.0").digest != first.digest


def test_a_folder_without_a_project_or_an_app_says_what_to_add(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match=r"No pyproject\.toml"):
        build(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(ReleaseError, match="needs a version"):
        build(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    with pytest.raises(ReleaseError, match=r"\[tool.arkitekt\] app"):
        build(tmp_path)
    with pytest.raises(ReleaseError, match="not a release bundle"):
        read_manifest(tmp_path / "pyproject.toml")


def test_the_cli_builds_from_an_app_file_as_from_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "counter"
    module = make_app(folder, marker="m")
    built = subprocess.run(
        [sys.executable, "-m", "arkitekt", "build", str(folder / module)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert built.returncode == 0, built.stderr
    assert read_manifest(folder / "dist" / "counter-0.1.0.tar.gz").entry == module
