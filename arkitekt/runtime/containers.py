"""Container images for releases: a Containerfile, and a build with podman or docker.

    context = prepare(bundle, Path("dist/cell-counter-0.1.0-image"))
    build_image(context, "cell-counter:0.1.0")

The build context holds the unpacked release (`app/`), a Containerfile and every wheel
the image needs (`wheels/`: arkitekt from the same source as this one, and the release's
requirements), so the image builds without reaching any package index. The base image
needs only Python with venv; it defaults to the official slim image of this Python.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from arkitekt.errors import ArkitektError

from .environments import arkitekt_source
from .releases import Bundle, Manifest, unpack

ENGINES = ("podman", "docker")
ROOT = "/opt/arkitekt"


class ImageError(ArkitektError):
    """The image could not be built; the message holds the engine's complaint."""


def default_base() -> str:
    return f"docker.io/library/python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def engine() -> str | None:
    """The container engine installed here: podman, else docker, else None."""
    for name in ENGINES:
        if shutil.which(name) is not None:
            return name
    return None


def containerfile(manifest: Manifest, base: str) -> str:
    """The Containerfile of a release: its environment, then its code."""
    packages = " ".join(["arkitekt", *(json.dumps(r) for r in manifest.requirements)])
    command = json.dumps(
        ["python", "-m", "arkitekt", "run", manifest.entry, "--name", manifest.app]
    )
    return f"""\
# {manifest.app} {manifest.version}, built by `arkitekt build --image`.
# The agent reads ARKITEKT_URL and ARKITEKT_TOKEN from the environment.
FROM {base}
COPY wheels {ROOT}/wheels
RUN python3 -m venv {ROOT}/env \\
 && {ROOT}/env/bin/pip install --no-cache-dir --no-index --find-links {ROOT}/wheels {packages}
COPY app {ROOT}/app
WORKDIR {ROOT}/app
ENV PATH={ROOT}/env/bin:$PATH PYTHONUNBUFFERED=1 ARKITEKT_DATA_DIR=/var/lib/arkitekt
LABEL org.opencontainers.image.title="{manifest.app}" \\
      org.opencontainers.image.version="{manifest.version}"
CMD {command}
"""


def prepare(bundle: Bundle, context: Path, *, base: str | None = None) -> Path:
    """Writes the build context of a release's image; returns the Containerfile.

    Raises:
        ImageError: The wheels could not be gathered (pip's message says why).
    """
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    unpack(bundle.path, context / "app")
    requirements = bundle.manifest.requirements
    gathered = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"),
            *("--wheel-dir", str(context / "wheels"), arkitekt_source(), *requirements),
        ],
        capture_output=True,
        text=True,
    )
    if gathered.returncode != 0:
        raise ImageError(f"Cannot gather the image's wheels: {gathered.stderr.strip()[-2000:]}")
    path = context / "Containerfile"
    path.write_text(containerfile(bundle.manifest, base or default_base()))
    return path


def build_image(context: Path, tag: str, *, using: str | None = None) -> None:
    """Builds the image of a prepared context with podman or docker.

    Raises:
        ImageError: No engine is installed, or the build failed.
    """
    tool = using or engine()
    if tool is None:
        raise ImageError(
            "Neither podman nor docker is installed: build the image elsewhere with "
            f"`podman build -t {tag} {context}`."
        )
    built = subprocess.run(
        [tool, "build", "--file", str(context / "Containerfile"), "--tag", tag, str(context)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise ImageError(f"{tool} build failed: {(built.stderr or built.stdout).strip()[-3000:]}")
