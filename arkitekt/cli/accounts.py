"""`arkitekt user | team | token`: who may use the platform, and with what.

    arkitekt user add alice
    arkitekt team add imaging
    arkitekt team member add imaging alice
    arkitekt token create laptop --user alice      # prints the token, once
    arkitekt token list --user alice
    arkitekt token revoke 3f2a...

They run through the GraphQL API with your token, which needs the admin scope (and, for
users and teams, a platform admin behind it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer

from .listing import fetch, table
from .output import JsonOption, TokenOption, UrlOption, console, errors, fail, moment, print_json

users = typer.Typer(name="user", help="Add and list users.", no_args_is_help=True)
teams = typer.Typer(name="team", help="Add teams and manage their members.", no_args_is_help=True)
members = typer.Typer(name="member", help="Add and remove a team's members.", no_args_is_help=True)
tokens = typer.Typer(name="token", help="Create, list and revoke tokens.", no_args_is_help=True)
teams.add_typer(members)


class Scope(StrEnum):
    admin = "admin"
    agent = "agent"
    call = "call"
    host = "host"


class Role(StrEnum):
    member = "member"
    admin = "admin"


_DURATION = re.compile(r"(\d+)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def expiry(value: str | None) -> datetime | None:
    """`30d`, `12h`, `2w` or `90m` from now; None: never."""
    if value is None:
        return None
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        fail(f"--expires {value!r} is not a duration", "write it as 90m, 12h, 30d or 2w")
    amount, unit = int(match[1]), _UNITS[match[2]]
    return datetime.now(UTC) + timedelta(**{unit: amount})


@users.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    admin: Annotated[bool, typer.Option("--admin", help="A platform admin.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Add a user (then give them a token: `arkitekt token create NAME --user USER`)."""
    fetch(url, token, lambda client: client.api.create_user(name=name, admin=admin))
    errors.print(f"added user [bold]{name}[/]" + (" (admin)" if admin else ""))


@users.command("list")
def list_users(
    as_json: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """List the users, their teams and what their blobs hold (platform admins)."""
    found = fetch(url, token, lambda client: client.api.users())
    if as_json:
        print_json(found)
        return
    rows = table("name", "admin", "teams", "blobs (GiB)")
    for user in found:
        teams_of = ", ".join(_membership(m) for m in user.memberships)
        stored = f"{user.stored_bytes / 2**30:.2f}" if user.stored_bytes is not None else ""
        rows.add_row(user.name, "yes" if user.is_admin else "", teams_of, stored)
    console.print(rows)


def _membership(membership: Any) -> str:
    role = " (admin)" if membership.role.value == "ADMIN" else ""
    return f"{membership.team.name}{role}"


@teams.command("add")
def add_team(
    name: Annotated[str, typer.Argument(help="The team's name, e.g. imaging.")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Add a team (platform admins)."""
    fetch(url, token, lambda client: client.api.create_team(name=name))
    errors.print(f"added team [bold]{name}[/]")


@teams.command("list")
def list_teams(
    as_json: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """List your teams and their members (every team, for platform admins)."""
    found = fetch(url, token, lambda client: client.api.teams())
    if as_json:
        print_json(found)
        return
    rows = table("team", "members")
    for team in found:
        names = ", ".join(
            m.user.name + (" (admin)" if m.role.value == "ADMIN" else "") for m in team.members
        )
        rows.add_row(team.name, names)
    console.print(rows)


@members.command("add")
def add_member(
    team: Annotated[str, typer.Argument(help="The team's name.")],
    user: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[
        Role, typer.Option(help="An admin also manages the team's members.")
    ] = Role.member,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Add a user to a team, or change their role in it."""
    from arkitekt.api.enums import Role as ApiRole

    wanted = ApiRole[role.name.upper()]
    fetch(url, token, lambda client: client.api.add_member(team=team, user=user, role=wanted))
    errors.print(f"[bold]{user}[/] is a {role.value} of [bold]{team}[/]")


@members.command("remove")
def remove_member(
    team: Annotated[str, typer.Argument(help="The team's name.")],
    user: Annotated[str, typer.Argument(help="The user's name.")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Take a user out of a team; their agents stop serving it."""
    fetch(url, token, lambda client: client.api.remove_member(team=team, user=user))
    errors.print(f"[bold]{user}[/] left [bold]{team}[/]")


@tokens.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. laptop.")],
    user: Annotated[
        str | None, typer.Option(help="Whose token (platform admins); default: yours.")
    ] = None,
    scope: Annotated[
        list[Scope] | None,
        typer.Option(help="What it may do; repeat it. Default: agent and call."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="Valid for 90m, 12h, 30d, 2w...; default: until revoked.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a token and print it. It is shown this once: the platform keeps only a hash."""
    from arkitekt.api.enums import Scope as ApiScope

    scopes = [ApiScope[s.name.upper()] for s in scope] if scope else None
    until = expiry(expires)
    created = fetch(
        url,
        token,
        lambda client: client.api.create_token(
            name=name, user=user, scopes=scopes, expires_at=until
        ),
    )
    granted = " ".join(s.value.lower() for s in created.token.scopes)
    errors.print(
        f"token [bold]{created.token.id}[/] for {created.token.user.name} ({granted}"
        + (f", until {moment(created.token.expires_at)}" if created.token.expires_at else "")
        + "); it is not shown again:"
    )
    console.print(created.secret, markup=False)


@tokens.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option(help="Whose (platform admins).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="With revoked and expired ones.")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List tokens (never their secrets): yours, or a user's."""
    found = fetch(url, token, lambda client: client.api.tokens(user=user, all=all_))
    if as_json:
        print_json(found)
        return
    rows = table("id", "name", "user", "scopes", "created", "expires", "revoked")
    for row in found:
        rows.add_row(
            row.id,
            row.name,
            row.user.name,
            " ".join(s.value.lower() for s in row.scopes),
            moment(row.created_at),
            moment(row.expires_at),
            moment(row.revoked_at),
        )
    console.print(rows)


@tokens.command("revoke")
def revoke_token(
    id: Annotated[str, typer.Argument(help="The token's id (`arkitekt token list`).")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Revoke a token: its next request is refused and its open connections close."""
    revoked = fetch(url, token, lambda client: client.api.revoke_token(id=id))
    errors.print(f"revoked token [bold]{revoked.id}[/] ({revoked.name} of {revoked.user.name})")
