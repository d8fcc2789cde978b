"""An app folder to ship, as `arkitekt init` makes it, in two versions."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from arkitekt.cli.scaffold import scaffold

CACHE = Path(os.environ.get("ARKITEKT_TEST_CACHE") or Path.home() / ".cache" / "arkitekt-tests")
"""Kept between runs: wheels, environments and the container base (they take minutes)."""

V1 = '''
from arkitekt import register


@register
def shout(text: str) -> str:
    """Shout it ({marker})."""
    return text.upper() + "!"
'''

V2 = (
    V1
    + '''

@register
def release() -> str:
    """Which release serves ({marker})."""
    return "0.2.0"
'''
)


def make_app(folder: Path, *, version: str = "0.1.0", code: str = V1, marker: str = "") -> str:
    """Writes (or rewrites) the app `folder.name` at `version`; returns its module's file."""
    if not folder.exists():
        scaffold(folder)
        for test in folder.glob("test_*.py"):
            test.unlink()
    module = folder.name.replace("-", "_") + ".py"
    (folder / module).write_text(code.format(marker=marker or uuid.uuid4().hex))
    pyproject = folder / "pyproject.toml"
    lines = pyproject.read_text().splitlines()
    pyproject.write_text(
        "\n".join(
            f'version = "{version}"' if line.startswith("version =") else line for line in lines
        )
        + "\n"
    )
    return module
