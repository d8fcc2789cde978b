"""Things to ship: an app folder as `arkitekt init` makes it (in two versions), and
releases and hosts made through the API."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import arkitekt
from arkitekt.api.enums import Scope
from arkitekt.api.input_types import HostInput, ReleaseInput
from arkitekt.cli.scaffold import scaffold
from arkitekt.runtime.storage import storage_of
from tests.accounts import unique

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


async def publish(client: arkitekt.Client, app: str, version: str = "1.0") -> str:
    storage = storage_of(client)
    blob = await storage.create()
    await storage.put(blob, "bundle.tar.gz", b"bundle")
    release = await client.api.publish_release(
        input=ReleaseInput(
            app=app,
            version=version,
            entry="app.py",
            requirements=["tomli-w>=1"],
            blob=blob,
            digest="a" * 64,
            functions=[],
        )
    )
    return release.id


async def host_of(
    client: arkitekt.Client, url: str, teams: list[str] | None = None
) -> tuple[str, str]:
    """A host of the client's user, open to `teams`: (its id, its token)."""
    token = (await client.api.create_token(name="pc", scopes=[Scope.HOST])).secret
    async with arkitekt.connect(url, token) as host:
        registered = await host.api.register_host(input=HostInput(name=unique("pc"), teams=teams))
    return registered.id, token
