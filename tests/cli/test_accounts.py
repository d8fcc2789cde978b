"""`arkitekt user | team | token` and `arkitekt run --team`, run as an operator and the
members of a lab run them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from .processes import Process, plain
from .processes import arkitekt as run

ROOT = Path(__file__).parents[2]


def as_user(env: dict[str, str], token: str) -> dict[str, str]:
    return {**env, "ARKITEKT_TOKEN": token}


def without_columns(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key != "COLUMNS"}


def created_token(env: dict[str, str], *args: str) -> str:
    result = run("token", "create", *args, env=env)
    assert result.returncode == 0, result.stderr
    assert "not shown again" in plain(result.stderr)
    token = result.stdout.strip()
    assert token.startswith("ark_")
    assert result.stdout == token + "\n"  # scripts take stdout as it is
    return token


def test_an_operator_sets_up_a_lab(env: dict[str, str], processes: list[Process]) -> None:
    lab, alice, bob = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("imaging", "alice", "bob"))
    for command in (
        ("user", "add", alice),
        ("user", "add", bob),
        ("team", "add", lab),
        ("team", "member", "add", lab, alice, "--role", "admin"),
    ):
        result = run(*command, env=env)
        assert result.returncode == 0, (command, result.stderr)
    alices = created_token(env, "laptop", "--user", alice, "--scope", "agent", "--scope", "call")
    bobs = created_token(env, "laptop", "--user", bob, "--expires", "30d")

    listed = run("token", "list", "--user", alice, "--json", env=env)
    (token,) = json.loads(listed.stdout)
    assert (token["name"], token["scopes"]) == ("laptop", ["AGENT", "CALL"])
    assert alices not in listed.stdout  # never the secret again

    name = f"lab-{uuid.uuid4().hex[:6]}"
    app = Process(
        "run",
        str(ROOT / "examples" / "basics.py"),
        "--name",
        name,
        "--team",
        lab,
        env=as_user(env, alices),
    )
    processes.append(app)
    app.wait_for(r"serving \d+ functions?")
    assert run("call", "add", "a=1", "b=2", env=as_user(env, alices)).stdout.strip() == "3"
    # Bob is not in the team: the function does not exist for him...
    refused = run("call", "add", "a=1", "b=2", env=as_user(env, bobs))
    assert refused.returncode == 1
    assert "No node named 'add'" in plain(refused.stderr)
    # ...until the team's admin adds him.
    added = run("team", "member", "add", lab, bob, env=as_user(env, alices))
    assert added.returncode == 1
    assert "admin scope" in plain(added.stderr)  # alice's laptop token may not manage
    assert run("team", "member", "add", lab, bob, env=env).returncode == 0
    assert run("call", "add", "a=2", "b=2", env=as_user(env, bobs)).stdout.strip() == "4"

    teams = json.loads(run("team", "list", "--json", env=as_user(env, bobs)).stdout)
    assert [t["name"] for t in teams] == [lab]

    (bobs_token,) = json.loads(run("token", "list", "--user", bob, "--json", env=env).stdout)
    # Piped, a table keeps its rows whole (rich would cut them to 80 columns): the id that
    # `token revoke` takes is there in full.
    piped = run("token", "list", "--user", bob, env=without_columns(env))
    assert bobs_token["id"] in piped.stdout
    revoked = run("token", "revoke", bobs_token["id"], env=env)
    assert revoked.returncode == 0, revoked.stderr
    after = run("nodes", env=as_user(env, bobs))
    assert after.returncode == 1
    assert "revoked" in plain(after.stderr).lower()


def test_admin_commands_say_what_went_wrong(env: dict[str, str]) -> None:
    missing = run("team", "member", "add", f"no-team-{uuid.uuid4().hex[:6]}", "x", env=env)
    assert missing.returncode == 1
    assert "No team with name" in plain(missing.stderr)
    bad = run("token", "create", "x", "--expires", "soon", env=env)
    assert bad.returncode == 1
    assert "90m, 12h, 30d or 2w" in plain(bad.stderr)
