"""`arkitekt dev app.py`: serve an app and reload it on every edit, as the same agent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from .output import (
    AppFileArgument,
    AppNameOption,
    TeamsOption,
    TokenOption,
    UrlOption,
    console,
    errors,
    print_serving,
    print_startup_failure,
    run_async,
    serving_agent,
    show_calls,
)

if TYPE_CHECKING:
    from arkitekt.runtime.agent import Agent
    from arkitekt.runtime.registry import Registry
    from arkitekt.runtime.reloader import Changes, Reloader


def dev(
    path: AppFileArgument,
    name: AppNameOption = None,
    team: TeamsOption = None,
    cancel_running: Annotated[
        bool,
        typer.Option(
            "--cancel-running",
            help="On reload, cancel running calls instead of letting them finish.",
        ),
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Serve an app like `run`, and reload it whenever you save.

    It watches the app file and the local modules it imports. A reload re-registers the
    same agent: only the functions whose signature or docs changed get new nodes. A file
    that fails to import is reported, and the previous version keeps serving until you fix
    it. Running calls finish on the code they started with, unless --cancel-running.
    Each call prints a line when it ends; one that fails prints its traceback.
    """
    from arkitekt.errors import StartupError
    from arkitekt.runtime.apps import app_name
    from arkitekt.runtime.caller import connect
    from arkitekt.runtime.reloader import Reloader

    async def developing() -> None:
        show_calls(every=True)
        reloader = Reloader(path)
        try:
            registry = await first_load(reloader)
            app = name or app_name(path)
            async with connect(url, token) as client:
                while True:
                    try:
                        async with serving_agent(
                            client, registry, name=app, teams=team or ()
                        ) as agent:
                            print_serving(agent, registry, client.url, reloading=True)
                            serving = reload_forever(reloader, agent, cancel_running)
                            await first_of(serving, agent.wait_closed())
                            return
                    except StartupError as error:
                        print_startup_failure(error)
                        registry = await first_load(reloader, after_a_change=True)
        finally:
            reloader.close()

    run_async(developing())


async def first_of(*coroutines: Coroutine[Any, Any, None]) -> None:
    """Runs the coroutines until one ends, cancels the others, and re-raises its error."""
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()


async def first_load(reloader: Reloader, *, after_a_change: bool = False) -> Registry:
    """The app's first version that imports; until then, each error and a wait for an edit."""
    from arkitekt.runtime.apps import AppError

    while True:
        if after_a_change:
            console.print("[dim]waiting for a change…[/]")
            async with contextlib.aclosing(reloader.changes()) as changes:
                await anext(changes)
        try:
            return reloader.load()
        except AppError as error:
            report_failure(error)
            after_a_change = True


async def reload_forever(reloader: Reloader, agent: Agent, cancel_running: bool) -> None:
    from arkitekt.errors import ArkitektError, StartupError
    from arkitekt.runtime.apps import AppError
    from arkitekt.runtime.reloader import Changes

    async with contextlib.aclosing(reloader.changes()) as changes:
        async for changed in changes:
            files = ", ".join(sorted(file.name for file in changed))
            try:
                # In a thread: a slow import must not stall the calls this agent is running.
                registry = await asyncio.to_thread(reloader.load)
            except AppError as error:
                report_failure(error)
                console.print("[yellow]still serving the previous version[/]")
                continue
            previous = agent.registry
            running = agent.statistics().running
            if agent.restarts_startups(registry) and running and not cancel_running:
                calls = "call" if running == 1 else "calls"
                console.print(
                    f"[yellow]waiting for {running} running {calls} to finish[/]: then the "
                    "app's startups run again (--cancel-running cancels them)"
                )
            try:
                cancelled = await agent.update(registry, cancel_running=cancel_running)
            except StartupError as error:
                print_startup_failure(error)
                if agent.started:
                    console.print("[yellow]still serving the previous version[/]")
                else:
                    console.print("[yellow]its calls fail until a change makes it start[/]")
                continue
            except ArkitektError as error:
                errors.print(
                    f"[bold red]the platform refused the new version:[/] {escape(str(error))}"
                )
                console.print("[yellow]still serving the previous version[/]")
                continue
            report_reload(files, Changes.between(previous, registry), cancelled)


def report_failure(error: BaseException) -> None:
    errors.print(f"[bold red]cannot load the app:[/] {escape(str(error))}")
    cause = error.__cause__
    if isinstance(cause, SyntaxError) and cause.text:
        pointer = " " * max((cause.offset or 1) - 1, 0) + "^"
        errors.print(f"  {cause.text.rstrip()}\n  {pointer}", markup=False)


def report_reload(files: str, changes: Changes, cancelled: int) -> None:
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (
            ("added", changes.added),
            ("changed", changes.changed),
            ("removed", changes.removed),
        )
        if names
    ]
    if changes.unchanged:
        # Same signature and docs: the node stays, and calls now run the new code.
        parts.append(f"kept {len(changes.unchanged)} nodes")
    console.print(f"[bold green]reloaded[/] {escape(files)}: {escape('; '.join(parts))}")
    if cancelled:
        console.print(f"[yellow]cancelled {cancelled} running calls[/] (--cancel-running)")
