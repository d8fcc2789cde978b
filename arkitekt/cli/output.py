"""What commands print: results on stdout, everything else on stderr, and errors that say
what to do next."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn

    from arkitekt.errors import StartupError
    from arkitekt.runtime.agent import Agent
    from arkitekt.runtime.caller import Client
    from arkitekt.runtime.nodes import Node
    from arkitekt.runtime.registry import Registry

# In a pipe, rich would cut tables to 80 columns (ids and all); a wide width keeps each
# row whole on its line, for grep and cut. A terminal, or COLUMNS, sets the width itself.
PIPED_WIDTH = 1000
console = Console(
    highlight=False,
    soft_wrap=True,
    width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else PIPED_WIDTH,
)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

UrlOption = Annotated[
    str | None,
    typer.Option("--url", envvar="ARKITEKT_URL", help="The platform's URL.", show_default=False),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="ARKITEKT_TOKEN", help="A token for the platform.", show_default=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]
AppFileArgument = Annotated[Path, typer.Argument(help="The app file, e.g. app.py.")]
AppNameOption = Annotated[
    str | None, typer.Option(help="The app's name; defaults to the file's name.")
]
TeamsOption = Annotated[
    list[str] | None,
    typer.Option(help="A team it serves (repeat it): its members see and call it."),
]


def fail(message: str, next_step: str | None = None) -> NoReturn:
    """Prints the error (and what to do about it) on stderr and exits with code 1."""
    errors.print(f"[bold red]error:[/] {escape(message)}")
    if next_step:
        errors.print(f"[dim]→[/] {escape(next_step)}")
    raise typer.Exit(1)


LISTINGS = {
    "node": ("arkitekt nodes", "what you can call"),
    "agent": ("arkitekt agents", "your agents"),
    "assignation": ("arkitekt assignations", "your recent calls"),
    "blob": ("arkitekt blob list", "your blobs"),
    "deployment": ("arkitekt deployments", "what runs where"),
    "host": ("arkitekt hosts", "the hosts you may deploy to"),
    "release": ("arkitekt releases", "the releases you see"),
    "team": ("arkitekt team list", "your teams"),
    "token": ("arkitekt token list", "your tokens"),
    "user": ("arkitekt user list", "the users"),
}
"""What lists the things of each kind a NOT_FOUND error names: the step after it."""


def next_step(error: BaseException) -> str | None:
    """The advice for an error whose message does not already give it."""
    from arkitekt.errors import (
        AgentDisconnectedError,
        ArgumentError,
        AuthenticationError,
        InvalidInputError,
        NotFoundError,
        PermissionDeniedError,
        RemoteError,
        ServerUnavailableError,
    )
    from arkitekt.runtime.apps import AppError

    if "`" in str(error):  # the message already names a command to run
        return None
    match error:
        case AuthenticationError():
            return (
                "the token was refused: run `arkitekt server` on this machine to refresh the "
                "config, or set ARKITEKT_TOKEN to a valid token"
            )
        case PermissionDeniedError():
            return "ask its owner to give one of your teams access"
        case NotFoundError():
            listing = LISTINGS.get(error.extensions.get("kind", "node"))
            return f"`{listing[0]}` lists {listing[1]}" if listing else None
        case ArgumentError() | InvalidInputError():
            return "`arkitekt nodes NAME --ports` shows what each argument takes"
        case RemoteError() if error.traceback.strip() and not verbose():
            return "the function failed on its agent; add --verbose for the remote traceback"
        case AgentDisconnectedError():
            return "its app stopped: start it again (`arkitekt run app.py`) and retry"
        case ServerUnavailableError():
            return "check that `arkitekt server` is running, then retry"
        case AppError():
            return "fix the file and run it again; `arkitekt inspect FILE` checks it alone"
    return None


def run_async(coroutine: Coroutine[Any, Any, Any], *, on_sigterm: bool = True) -> Any:
    """Runs a command's coroutine; arkitekt errors become a message and exit code 1.

    SIGTERM cancels the coroutine (so an agent shuts down as on Ctrl-C), unless the command
    handles it itself (`on_sigterm=False`: the server lets uvicorn stop gracefully)."""
    from arkitekt.errors import ArkitektError, RemoteError, StartupError

    runner = asyncio.Runner(loop_factory=_fastest_loop())
    try:
        return runner.run(_until_terminated(coroutine) if on_sigterm else coroutine)
    except KeyboardInterrupt:
        _leave_stuck_threads(130)
        raise typer.Exit(130) from None
    except asyncio.CancelledError:  # SIGTERM: shut down as gracefully as on Ctrl-C
        _leave_stuck_threads(143)
        raise typer.Exit(143) from None
    except RemoteError as error:
        if verbose() and error.traceback.strip():
            errors.print(f"[dim]{escape(error.traceback.rstrip())}[/]")
        fail(f"the function raised {error.type}: {error.message}", next_step(error))
    except StartupError as error:
        print_startup_failure(error)
        fail("the app did not start", "fix the startup and start the app again")
    except ArkitektError as error:
        fail(str(error), next_step(error))
    finally:
        runner.close()  # waits for the worker threads


def _leave_stuck_threads(code: int) -> None:
    """Exits at once when the app's sync code still runs in worker threads after its calls
    were cancelled: a thread cannot be interrupted, and the process would wait for it."""
    from arkitekt.runtime.context import app_threads

    if stuck := app_threads():
        threads = "1 thread" if stuck == 1 else f"{stuck} threads"
        errors.print(
            f"[yellow]the app's sync code still runs in {threads}[/], which cannot be "
            "interrupted: exiting without waiting for it"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def print_startup_failure(error: StartupError) -> None:
    """Which startup of the app failed, why, and where (its traceback)."""
    if error.traceback.strip():
        errors.print(error.traceback.rstrip(), style="dim", markup=False, highlight=False)
    errors.print(f"[bold red]{escape(str(error))}[/]")


def _fastest_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (it comes with the server extra): the
    server, agents and callers spend much of their time in it."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _until_terminated(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs the coroutine; SIGTERM cancels it, so its cleanup (an agent's shutdown) runs."""
    task = asyncio.current_task()
    assert task is not None
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await coroutine


def verbose() -> bool:
    return "--verbose" in sys.argv or "-v" in sys.argv


def print_json(value: Any) -> None:
    """One JSON document on stdout, plain (no colour), for scripts."""
    print_line(json.dumps(value, default=jsonable, ensure_ascii=False))


def print_line(text: str) -> None:
    """One line on stdout as it is, at once: a result as it streams in (rich would take
    ten times as long per line, for nothing a plain line needs)."""
    console.file.write(text + "\n")
    console.file.flush()


def render(value: Any, as_json: bool) -> str:
    """A result as a line: strings as they are (unless JSON is asked for), the rest as JSON."""
    if isinstance(value, str) and not as_json:
        return value
    return json.dumps(value, default=jsonable, ensure_ascii=False)


def jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "model_dump"):  # the generated API's pydantic models
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    reference = getattr(value, "reference", None)
    if isinstance(reference, str):  # a structure (Array, File): its blob in central storage
        return reference
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def last_seen(status: Enum, value: datetime | None) -> str:
    """When an agent or host was last seen: now, while it is connected."""
    return "now" if status.value == "CONNECTED" else moment(value)


def moment(value: datetime | None) -> str:
    """A timestamp in local time: the time alone when it is today."""
    if value is None:
        return "-"
    local = value.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def progress_bar(*columns: str | ProgressColumn) -> Progress:
    """A transient progress bar on stderr, shown only when stderr is a terminal (where it
    is not, rich would leave an empty line behind)."""
    from rich.progress import Progress

    return Progress(*columns, console=errors, transient=True, disable=not errors.is_terminal)


def transfer_bar() -> Progress:
    from rich.progress import BarColumn, DownloadColumn, TransferSpeedColumn

    return progress_bar("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())


@contextlib.contextmanager
def upload_bar(description: str, total: int) -> Iterator[None]:
    """A transient progress bar on stderr over every upload the block makes."""
    from arkitekt.runtime.storage import upload_progress

    sent: dict[str, int] = {}  # bytes sent so far, per object being uploaded
    with transfer_bar() as bar:
        task = bar.add_task(description, total=total)

        def advance(key: str, so_far: int, _total: int | None) -> None:
            sent[key] = so_far
            bar.update(task, completed=sum(sent.values()))

        hook = upload_progress.set(advance)
        try:
            yield
        finally:
            upload_progress.reset(hook)


class _Activity(logging.Handler):
    """Log lines of the agents or the platform on stderr, timed; warnings in yellow,
    errors in red."""

    STYLES = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "red"}

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        errors.print(text, style=self.STYLES.get(record.levelname), markup=False)


def show_platform() -> None:
    """Prints what the platform of this process does: agents coming and going, blobs
    freed, and its warnings."""
    logger = logging.getLogger("arkitekt.server")
    logger.addHandler(_Activity())
    logger.setLevel(logging.INFO)
    logger.propagate = False  # printed here only


def show_calls(*, every: bool) -> None:
    """Prints what the agents of this process do: their startups, each failed call with
    its traceback, and, with `every` (`arkitekt dev`), each call that ends."""
    logger = logging.getLogger("arkitekt")
    logger.addHandler(_Activity())
    logger.setLevel(logging.INFO if every else logging.WARNING)
    logger.propagate = False  # printed here only
    logging.getLogger("arkitekt.startups").setLevel(logging.INFO)  # what the app waits on


PLATFORM_DELAYS = (0.25, 0.5, 1.0, 2.0, 5.0)


async def wait_for_platform(client: Client) -> str:
    """The id of the token's user, once the platform answers. A lab machine may start its
    apps before the platform is up: a long-running command waits for it rather than exit.
    A refused token still fails at once."""
    from arkitekt.errors import ServerUnavailableError

    attempt = 0
    while True:
        try:
            user = (await client.api.me()).id
        except ServerUnavailableError:
            if attempt == 0:
                errors.print(
                    f"[yellow]waiting[/] for the arkitekt server at {escape(client.url)} "
                    "to answer; Ctrl-C stops"
                )
            await asyncio.sleep(PLATFORM_DELAYS[min(attempt, len(PLATFORM_DELAYS) - 1)])
            attempt += 1
            continue
        if attempt:
            errors.print(f"[green]reached[/] {escape(client.url)}")
        return user


@contextlib.asynccontextmanager
async def serving_agent(
    client: Client, registry: Registry, *, name: str, teams: Sequence[str] = ()
) -> AsyncIterator[Agent]:
    """The agent of an app this command serves, once the platform answers. A restart on
    this machine serves as the same instance as the process before it."""
    from arkitekt.runtime.agent import Agent
    from arkitekt.runtime.instances import claim_instance

    user = await wait_for_platform(client)
    with claim_instance(client.url, user, name) as instance:
        async with Agent(client, registry, name=name, instance=instance, teams=teams) as agent:
            yield agent


def print_ports(node: Node) -> None:
    """A function's signature, description and a table of its ports: kinds, defaults,
    constraints, widgets (when any says how to show it) and descriptions."""
    from rich.table import Table

    from arkitekt.runtime.catalogue import port_rows

    console.print(f"[bold]{escape(node.signature())}[/]  [dim]{node.hash[:12]}[/]")
    if node.description:
        console.print(f"  {escape(node.description)}", style="dim")
    rows = [vars(row) for row in port_rows(node)]
    if not any(row["widget"] for row in rows):
        rows = [{k: v for k, v in row.items() if k != "widget"} for row in rows]
    table = Table(box=None, header_style="bold", padding=(0, 1, 0, 2))
    for column in rows[0] if rows else ():
        wraps = column == "description"
        heading = {"where": "", "key": "port"}.get(column, column)
        table.add_column(heading, no_wrap=not wraps, ratio=1 if wraps else None)
    for row in rows:
        table.add_row(*(escape(value) for value in row.values()))
    console.print(table)


def print_serving(agent: Agent, registry: Registry, url: str, *, reloading: bool = False) -> None:
    """The line that says an app serves, and its functions' signatures.

    `arkitekt host` reads this line to know the app serves (runtime/host.py).
    """
    note = "; reloading on changes" if reloading else ""
    functions = "function" if len(registry) == 1 else "functions"
    console.print(
        f"[bold green]serving[/] {len(registry)} {functions} of [bold]{agent.name}[/] "
        f"on {url} (agent {agent.id}){note}"
    )
    for implementation in registry:
        console.print(f"  {implementation.node.signature()}", markup=False)
