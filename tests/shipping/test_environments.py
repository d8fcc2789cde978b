"""A host's environments: arkitekt from the host's own source, the release's requirements,
nothing of the host's environment besides, and built once however many ask at once."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from arkitekt.runtime.environments import Environments, source_key

from .apps import CACHE


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A fresh cache, with the wheels of the shared one when it has them (they take long)."""
    shared = Environments(CACHE / "host")
    wheels = CACHE / "host" / "wheels" / source_key(shared.source)
    if wheels.is_dir():
        shutil.copytree(wheels, tmp_path / "wheels" / wheels.name)
    return tmp_path


@pytest.mark.timeout(600)
async def test_hosts_sharing_a_cache_build_an_environment_once(cache: Path) -> None:
    first, second = Environments(cache), Environments(cache)  # as two host processes
    pythons = await asyncio.gather(
        first.environment(["tomli-w>=1"]), second.environment(["tomli-w>=1"])
    )
    assert pythons[0] == pythons[1]
    assert [p.name for p in (cache / "envs").iterdir() if p.is_dir()] == [
        pythons[0].parents[1].name
    ]
    script = (
        "import arkitekt, tomli_w, importlib.util, sys;"
        "print(arkitekt.__file__.startswith(sys.prefix), importlib.util.find_spec('pytest'))"
    )
    inside = await asyncio.to_thread(
        subprocess.run,
        [str(pythons[0]), "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=cache,  # not this project's folder, whose arkitekt `-c` would import
    )
    # arkitekt installed into the environment, and nothing of the host's besides.
    assert inside.stdout.split() == ["True", "None"], inside.stderr
    assert await first.environment(["tomli-w>=1"]) == pythons[0]  # kept
