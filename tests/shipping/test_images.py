"""`arkitekt build --image`: a release as a container image, built with podman, that holds
the app, arkitekt and the release's requirements.

No public image registry is reachable here, so the base is assembled from Debian packages
(debootstrap, kept in the test cache between runs) and imported into a podman storage of
the tests' own, with the vfs driver; builds use chroot isolation (no kernel features
needed), and the test looks into the image's files the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .apps import CACHE, make_app

BASE = "localhost/arkitekt-test-base:bookworm"
STORAGE = CACHE / "podman"
"""Podman's storage for these tests alone: vfs, whatever the machine's podman uses."""
PODMAN_ENV = {
    **os.environ,
    "CONTAINERS_STORAGE_CONF": str(STORAGE / "storage.conf"),
    "BUILDAH_ISOLATION": "chroot",
}

APP = '''
from arkitekt import register


@register
def to_toml(values: dict[str, int]) -> str:
    """The values as TOML ({marker})."""
    import tomli_w  # the release's requirement

    return tomli_w.dumps(values)
'''


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=PODMAN_ENV, capture_output=True, text=True, check=check, timeout=600
    )


def debian_rootfs() -> Path:
    """Debian bookworm with Python and venv, as a tar (made once, then kept in the cache)."""
    archive = CACHE / "debian-bookworm-python.tar"
    if archive.is_file():
        return archive
    if shutil.which("debootstrap") is None:
        pytest.fail("debootstrap is not installed: apt-get install debootstrap")
    root = CACHE / "debian-rootfs.partial"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv",
            "bookworm",
            str(root),
            "http://deb.debian.org/debian",
        ],
        check=True,
        capture_output=True,
        timeout=900,
    )
    partial = archive.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        tar.add(root, arcname=".")
    partial.replace(archive)
    shutil.rmtree(root)
    return archive


@pytest.fixture(scope="module")
def base() -> str:
    if shutil.which("podman") is None:
        if os.environ.get("ARKITEKT_REQUIRE_PODMAN"):
            pytest.fail("podman is required but not installed: apt-get install podman")
        pytest.skip("podman is not installed")
    STORAGE.mkdir(parents=True, exist_ok=True)
    (STORAGE / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{STORAGE / "graph"}"\n'
        f'runroot = "{STORAGE / "run"}"\n'
    )
    if podman("image", "exists", BASE, check=False).returncode != 0:
        podman("import", str(debian_rootfs()), BASE)
    return BASE


@pytest.fixture
def image() -> Iterator[str]:
    tag = f"localhost/greeter-image-{uuid.uuid4().hex[:8]}:0.1.0"
    yield tag
    podman("rmi", "--force", tag, check=False)


@pytest.mark.timeout(900)
def test_an_image_holds_the_app_and_its_requirements(base: str, image: str, tmp_path: Path) -> None:
    folder = tmp_path / "toml-app"
    module = make_app(folder, code=APP)
    pyproject = folder / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'dependencies = ["arkitekt', 'dependencies = ["tomli-w", "arkitekt'
        )
    )
    built = subprocess.run(
        [sys.executable, "-m", "arkitekt", "build", str(folder), "--image"]  # noqa: RUF005
        + ["--base", base, "--tag", image],
        env={**PODMAN_ENV, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"image {image}" in built.stdout
    containerfile = (folder / "dist" / "toml-app-0.1.0-image" / "Containerfile").read_text()
    assert f"FROM {base}" in containerfile

    labels = podman("image", "inspect", "--format", "{{json .Labels}}", image).stdout
    assert '"org.opencontainers.image.version":"0.1.0"' in labels
    # Inside the image's files: its python imports the requirement, loads the app and
    # calls it, and arkitekt there sees the app's functions as `inspect` shows them.
    root = podman("image", "mount", image).stdout.strip()
    try:
        inside = ["chroot", root, "/opt/arkitekt/env/bin/python"]
        called = subprocess.run(
            [
                *inside,
                "-c",
                "import os, sys; os.chdir('/opt/arkitekt/app'); sys.path.insert(0, '');"
                f"from {module[:-3]} import to_toml; print(to_toml({{'a': 1}}))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert called.stdout.strip() == "a = 1", called.stderr
        inspected = subprocess.run(
            [*inside, "-m", "arkitekt", "inspect", f"/opt/arkitekt/app/{module}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "to_toml(values: dict[str, int]) -> str" in inspected.stdout, inspected.stderr
    finally:
        podman("image", "unmount", image, check=False)
