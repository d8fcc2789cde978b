"""Production mode: an explicit secret or no start, no introspection, no suggestions; and
the client config holding a token is readable by its owner only."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from arkitekt.config import write_config_file
from arkitekt.server.settings import Settings
from arkitekt.testing import RunningPlatform, running_server

from .raw import codes, post

INTROSPECTION = "{ __schema { types { name } } }"
TYPO = "{ nodez { id } }"


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ARKITEKT_ADMIN_TOKEN"):
        Settings(data_dir=tmp_path, production=True).check()
    with pytest.raises(ValueError, match="at least 32 characters"):
        Settings(data_dir=tmp_path, production=True, admin_token="short").check()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARKITEKT_")}
    result = subprocess.run(
        [sys.executable, "-m", "arkitekt", "server", "--production", "--port", "0"],
        env={**env, "ARKITEKT_DATA_DIR": str(tmp_path), "ARKITEKT_CONFIG": str(tmp_path / "c")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "ARKITEKT_ADMIN_TOKEN" in result.stderr
    assert not (tmp_path / "c").exists()


async def test_production_serves_the_operators_secret_and_hides_the_schema(
    tmp_path: Path, server: RunningPlatform
) -> None:
    secret = secrets.token_hex(32)
    for _ in range(2):  # the first start stores the secret; the next finds it
        with running_server(tmp_path, production=True, admin_token=secret) as platform:
            assert platform.token == secret
            me = await post(platform.url, secret, "{ me { name isAdmin } }")
            assert me["data"]["me"] == {"name": "admin", "isAdmin": True}
            hidden = await post(platform.url, secret, INTROSPECTION)
            assert codes(hidden) == ["INVALID_INPUT"]
            assert "introspection" in hidden["errors"][0]["message"].lower()
            typo = await post(platform.url, secret, TYPO)
            assert "Did you mean" not in typo["errors"][0]["message"]
            assert "nodez" in typo["errors"][0]["message"]
    # Outside production, developers get both.
    assert "data" in await post(server.url, server.token, INTROSPECTION)
    typo = await post(server.url, server.token, TYPO)
    assert "Did you mean" in typo["errors"][0]["message"]


def test_the_config_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{}")
    path.chmod(0o644)  # left over, or made by hand
    write_config_file("http://127.0.0.1:1", "ark_secret", path)
    assert path.stat().st_mode & 0o777 == 0o600
    fresh = write_config_file("http://127.0.0.1:1", "ark_secret", tmp_path / "new" / "c.json")
    assert fresh.stat().st_mode & 0o777 == 0o600
