"""`arkitekt nodes | agents | assignations`: what is on the platform, as tables or JSON."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from .output import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    errors,
    last_seen,
    moment,
    print_json,
    print_ports,
    run_async,
)

if TYPE_CHECKING:
    from datetime import timedelta

    from rich.table import Table

    from arkitekt.runtime.caller import Client

STATUS_STYLES = {
    "CONNECTED": "green",
    "DISCONNECTED": "dim",
    "QUEUED": "yellow",
    "ASSIGNED": "cyan",
    "RUNNING": "cyan",
    "CANCELLING": "yellow",
    "DONE": "green",
    "ERROR": "red",
    "CRITICAL": "bold red",
    "CANCELLED": "magenta",
}


def fetch(
    url: str | None, token: str | None, query: Callable[[Client], Coroutine[Any, Any, Any]]
) -> Any:
    """Runs one query on a fresh connection."""
    from arkitekt.runtime.caller import connect

    async def fetching() -> Any:
        async with connect(url, token) as client:
            return await query(client)

    return run_async(fetching())


def table(*columns: str) -> Table:
    from rich.table import Table

    return Table(*columns, box=None, header_style="bold", pad_edge=False)


def status(value: str) -> str:
    return f"[{STATUS_STYLES.get(value, 'default')}]{value}[/]"


def nodes(
    search: Annotated[str | None, typer.Argument(help="Match names and descriptions.")] = None,
    every: Annotated[
        bool,
        typer.Option("--all", help="Also the older versions that newer ones replaced."),
    ] = False,
    ports: Annotated[
        bool,
        typer.Option("--ports", help="Each function's ports: defaults, constraints, descriptions."),
    ] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the functions you can call, with their signatures."""
    from arkitekt.runtime.nodes import Node

    found = fetch(url, token, lambda client: client.api.nodes(search=search))
    older = sum(node.superseded for node in found)
    if not every:
        found = [node for node in found if not node.superseded]
    if as_json:
        print_json([node.model_dump(mode="json") for node in found])
        return
    if not found:
        if older:
            errors.print("Only older versions match: --all shows them.")
        elif search:
            console.print(f"No function matches {search!r}.", markup=False)
        else:
            console.print("No nodes yet: run an app (`arkitekt run app.py`) to register some.")
        return
    rows = table("name", "signature", "live", "hash")
    for node in found:
        definition = Node.from_data(node.model_dump())
        if ports:
            print_ports(definition)
            continue
        live = len(node.implementations)
        rows.add_row(
            node.name,
            escape(definition.signature().removeprefix(node.name)),
            f"[green]{live}[/]" if live else "[dim]older[/]" if node.superseded else "[dim]0[/]",
            f"[dim]{node.hash[:12]}[/]",
        )
    if not ports:
        console.print(rows)
    if older and not every:
        versions = "version" if older == 1 else "versions"
        errors.print(f"[dim]{older} older {versions} not shown; --all shows them[/]")


def agents(
    connected: Annotated[
        bool, typer.Option("--connected", help="Only the agents connected now.")
    ] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List your agents: the app processes that serve functions."""
    from arkitekt.api.enums import AgentStatus

    wanted = AgentStatus.CONNECTED if connected else None
    found = fetch(url, token, lambda client: client.api.agents(status=wanted))
    if as_json:
        print_json([agent.model_dump(mode="json") for agent in found])
        return
    if not found:
        console.print("No agents yet: `arkitekt run app.py` starts one.")
        return
    rows = table("name", "status", "running", "host", "last seen", "id")
    for agent in found:
        rows.add_row(
            agent.name,
            status(agent.status.value),
            str(agent.running),
            escape(agent.hostname or "-"),
            last_seen(agent.status, agent.last_seen),
            f"[dim]{agent.id}[/]",
        )
    console.print(rows)


def assignations(
    status_filter: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only assignations in this status, e.g. RUNNING or ERROR.",
            show_default=False,
        ),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option("--node", help="Only calls of functions of this name.", show_default=False),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            help="Only calls older than this one: the last id of a page, for the next.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List your recent calls and how they ended."""
    from arkitekt.api.enums import AssignationStatus

    from .output import fail

    wanted = None
    if status_filter is not None:
        try:
            wanted = AssignationStatus(status_filter.upper())
        except ValueError:
            choices = ", ".join(s.value for s in AssignationStatus)
            fail(f"no status {status_filter!r}", f"use one of {choices}")
    found = fetch(
        url,
        token,
        lambda client: client.api.assignations(
            status=wanted, node=node, before=before, limit=limit
        ),
    )
    if as_json:
        print_json([assignation.model_dump(mode="json") for assignation in found])
        return
    if not found:
        console.print("No assignations yet: `arkitekt call NAME key=value` makes one.")
        return
    from arkitekt.runtime.caller import TERMINAL

    terminal = {kind.value for kind in TERMINAL}  # an ended call's status is its last event
    rows = table("node", "status", "args", "created", "took", "id")
    for assignation in found:
        ended = assignation.status.value in terminal
        rows.add_row(
            assignation.node.name,
            status(assignation.status.value),
            escape(arguments_text(assignation.args)),
            moment(assignation.created_at),
            duration(assignation.updated_at - assignation.created_at) if ended else "-",
            f"[dim]{assignation.id}[/]",
        )
    console.print(rows)


ARGS_WIDTH = 48


def arguments_text(args: Any) -> str:
    """A call's arguments as `key=value` pairs, as `arkitekt call` takes them, cut short."""
    import json

    def value(item: Any) -> str:
        if isinstance(item, str) and item and not any(c.isspace() for c in item):
            return item
        return json.dumps(item, separators=(",", ":"), ensure_ascii=False)

    text = " ".join(f"{key}={value(item)}" for key, item in dict(args or {}).items())
    return text if len(text) <= ARGS_WIDTH else text[: ARGS_WIDTH - 1] + "…"


def duration(elapsed: timedelta) -> str:
    """`12 ms`, `3.4 s`, `2 min 5 s`, `1 h 5 min`: as precise as a glance needs."""
    seconds = elapsed.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"
