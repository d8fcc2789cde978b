"""`arkitekt call`: one call, its results streamed to stdout, its progress and logs to stderr."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from .blobs import partial_file
from .output import (
    TokenOption,
    UrlOption,
    console,
    errors,
    fail,
    print_line,
    progress_bar,
    render,
    run_async,
    upload_bar,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from arkitekt.runtime.caller import Assignation, Client, Event
    from arkitekt.runtime.nodes import Node
    from arkitekt.runtime.ports import Port
    from arkitekt.structures.stored import Stored


JsonLinesOption = Annotated[
    bool, typer.Option("--json", help="Print each result as one line of JSON, for scripts.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show remote tracebacks.")]
SaveOption = Annotated[
    Path | None,
    typer.Option(
        help="Save the Arrays (.npy) and Files among the results into this folder, "
        "and print their paths instead of their references.",
        metavar="DIR",
        file_okay=False,
    ),
]


def call(
    target: Annotated[str, typer.Argument(help="A node's name or hash.")],
    arguments: Annotated[
        list[str] | None,
        typer.Argument(
            help="Arguments as key=value; values are JSON where they parse. "
            "A File or Array argument takes a local file as key=@PATH (Array: a .npy file), "
            """also within JSON: planes='["@z0.npy", "@z1.npy"]'."""
        ),
    ] = None,
    as_json: JsonLinesOption = False,
    timeout: Annotated[
        float | None, typer.Option(help="Give up (and cancel) after this many seconds.")
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Start the call, print its id and return: it runs on without this command "
            "(`arkitekt follow ID` prints its results).",
        ),
    ] = False,
    save: SaveOption = None,
    agent: Annotated[
        str | None,
        typer.Option(
            help="Run it on this agent: its id, or the host it runs on (`arkitekt agents` "
            "lists them). The call waits while that agent is away.",
            show_default=False,
        ),
    ] = None,
    verbose: VerboseOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Call a function and print its results as they stream in.

    Progress shows as a bar and log lines on stderr; Ctrl-C cancels the call, and so does
    the platform a minute after this command dies, unless it was started with --detach.
    """
    from arkitekt.errors import ArgumentError
    from arkitekt.runtime.caller import connect

    if timeout is not None and timeout <= 0:
        fail(f"--timeout is in seconds, more than 0, not {timeout}")

    async def calling() -> None:
        async with connect(url, token) as client:
            node = await client.node(target)
            parsed = parse_arguments(node, arguments or [])
            chosen = None if agent is None else await agent_serving(client, node, agent)
            try:
                with uploads(parsed):
                    if chosen is None:
                        assignation = await client.assign(node, detached=detach, **parsed)
                    else:
                        reservation = await client.reserve(node, agents=[chosen])
                        try:
                            assignation = await reservation.assign(detached=detach, **parsed)
                        finally:  # the call keeps its agent; the reservation took no more
                            await reservation.unreserve()
            except ArgumentError as error:
                fail(str(error), f"call it as {node.signature()}")
            if detach:
                console.print(assignation.id, markup=False)
                return
            try:
                await print_events(
                    assignation, as_json=as_json, save=save, timeout=timeout, agent=chosen
                )
            except TimeoutError:
                await assignation._cancel_quietly()
                fail(f"no result within {timeout}s; the call was cancelled", "raise --timeout")
            except asyncio.CancelledError:  # Ctrl-C
                await assignation._cancel_quietly()
                errors.print(f"[yellow]cancelled[/] {node.name} ({assignation.id})")
                raise

    run_async(calling())


async def agent_serving(client: Client, node: Node, wanted: str) -> str:
    """The agent `wanted` names: an agent's id, or the host of the one agent there that
    serves `node` now."""
    from arkitekt.api.enums import AgentStatus

    agents = await client.api.agents()
    if any(a.id == wanted for a in agents):
        return wanted
    on_host = {a.id for a in agents if a.hostname == wanted and a.status is AgentStatus.CONNECTED}
    listed = await client.api.nodes(name=node.name)
    serving = {i.agent.id for n in listed if n.hash == node.hash for i in n.implementations}
    matches = sorted(on_host & serving)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        fail(
            f"no agent on a host named {wanted!r} serves {node.name} now, and no agent has that id",
            "`arkitekt agents` lists them; an agent's id waits for it while it is away",
        )
    fail(
        f"{len(matches)} agents on {wanted} serve {node.name}: {', '.join(matches)}",
        "pass one's id",
    )


def follow(
    assignation_id: Annotated[
        str, typer.Argument(metavar="ID", help="The call's id (`arkitekt assignations`).")
    ],
    as_json: JsonLinesOption = False,
    save: SaveOption = None,
    verbose: VerboseOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print a call's results: those so far, then the rest as they stream in, until it ends.

    For a call started with `arkitekt call --detach`, or from the dashboard. Ctrl-C stops
    following; the call runs on (`arkitekt cancel ID` stops it).
    """
    from arkitekt.runtime.caller import connect

    async def following() -> None:
        async with connect(url, token) as client:
            handle = await client.assignation(assignation_id)
            await print_events(handle, as_json=as_json, save=save, timeout=None)

    run_async(following())


def cancel(
    assignation_ids: Annotated[
        list[str], typer.Argument(metavar="ID", help="The calls' ids (`arkitekt assignations`).")
    ],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Cancel calls: each stops on its agent and ends CANCELLED; one that ended already
    is left as it is."""
    from arkitekt.errors import NotFoundError
    from arkitekt.runtime.caller import connect

    async def cancelling() -> None:
        async with connect(url, token) as client:
            for assignation_id in assignation_ids:
                try:
                    done = await client.api.cancel(assignation=assignation_id)
                except NotFoundError:
                    fail(f"no call of yours with id {assignation_id!r}", LISTED)
                state = escape(done.status.value)
                console.print(f"{escape(done.node.name)} ({done.id}): {state}")

    run_async(cancelling())


LISTED = "`arkitekt assignations` lists your recent calls"


async def print_events(
    assignation: Assignation,
    *,
    as_json: bool,
    save: Path | None,
    timeout: float | None,
    agent: str | None = None,
) -> None:
    """Prints a call's results on stdout as they come, its progress and logs on stderr;
    raises the call's failure."""
    from arkitekt.api.enums import AssignationEventKind

    saver = Saver(save, assignation.node.name) if save else None
    with Feedback(assignation.node.name, enabled=not as_json, agent=agent) as feedback:
        async with asyncio.timeout(timeout):
            async for event in assignation.events():
                if event.kind is AssignationEventKind.YIELD:
                    for value in event.yields:
                        show(await saver.save(value) if saver else value, as_json)
                elif event.terminal:
                    assignation._raise_for(event)
                else:
                    feedback.show(event)


def show(value: Any, as_json: bool) -> None:
    """One result: a value, or a tuple when the function returns several."""
    from arkitekt.structures.stored import Stored

    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, Stored) and value.reference is not None and not as_json:
        # On a terminal, what it is besides its reference; in a pipe, the reference alone.
        print_line(repr(value) if sys.stdout.isatty() else value.reference)
    else:
        print_line(render(value, as_json))


class Saver:
    """Writes the structures in results to files in a folder, numbered in the order they
    arrive (`acquire-0001.npy`, `report-0002-summary.csv`), and puts their paths in their
    place. Numbers go on from the highest the folder holds already: nothing is overwritten."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder
        self.prefix = prefix
        self.count: int | None = None
        """The last number given; None until the folder was read, once."""

    async def save(self, value: Any) -> Any:
        from arkitekt.structures.stored import Stored

        if isinstance(value, Stored):
            return str(await self._write(value))
        if isinstance(value, list | tuple):
            return type(value)([await self.save(item) for item in value])
        if isinstance(value, dict):
            return {key: await self.save(item) for key, item in value.items()}
        if hasattr(value, "model_fields") or dataclasses.is_dataclass(value):
            fields = value.model_fields if hasattr(value, "model_fields") else vars(value)
            return {name: await self.save(getattr(value, name)) for name in fields}
        return value

    def _next_stem(self) -> str:
        if self.count is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            taken = re.compile(rf"{re.escape(self.prefix)}-(\d+)[.-]")
            numbers = (taken.match(path.name) for path in self.folder.iterdir())
            self.count = max((int(m.group(1)) for m in numbers if m), default=0)
        self.count += 1
        return f"{self.prefix}-{self.count:04d}"

    async def _write(self, value: Any) -> Path:
        from arkitekt.structures import Array, File
        from arkitekt.structures.file import safe_name

        try:
            stem = await asyncio.to_thread(self._next_stem)
            if isinstance(value, File):
                target = self.folder / f"{stem}-{safe_name(value.name)}"
            else:
                assert isinstance(value, Array)
                target = self.folder / f"{stem}.npy"
            with errors.status(f"saving {stem} ({value.reference})"), partial_file(target) as part:
                await (value.download(part) if isinstance(value, File) else value.save(part))
            return target
        except OSError as error:
            fail(f"could not save a result into {self.folder}: {error}", "choose another --save")


class Feedback:
    """PROGRESS events drive a bar on stderr and LOG events print above it; a call that
    waits for an instance says so.

    The bar is transient: it disappears when the call ends, and never shows when stderr
    is not a terminal.
    """

    def __init__(self, name: str, *, enabled: bool, agent: str | None = None) -> None:
        self.name = name
        self.enabled = enabled
        self.agent = agent
        """The agent the call must run on, when the caller chose one."""
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._queued = False

    def __enter__(self) -> Feedback:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def show(self, event: Event) -> None:
        from arkitekt.api.enums import AssignationEventKind

        if not self.enabled:
            return
        if event.kind is AssignationEventKind.QUEUED:
            self._queued = True
            why = event.message or (
                f"agent {self.agent} is not connected; it runs when it is"
                if self.agent
                else f"no instance of {self.name} is connected; it runs when one does"
            )
            errors.print(f"[yellow]queued[/] {escape(why)}")
        elif event.kind is AssignationEventKind.ASSIGNED and self._queued:
            errors.print(f"[green]assigned[/] to agent {escape(event.message or '')}")
        elif event.kind is AssignationEventKind.PROGRESS:
            self._advance(event.progress, event.message)
        elif event.kind is AssignationEventKind.LOG:
            level = event.level.value if event.level else "INFO"
            style = {"WARNING": "yellow", "ERROR": "red"}.get(level, "dim")
            errors.print(f"[{style}]{level}[/] {escape(event.message or '')}")

    def _advance(self, percent: float | None, message: str | None) -> None:
        if self._progress is None:
            from rich.progress import BarColumn, TaskProgressColumn, TextColumn

            self._progress = progress_bar(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[message]}"),
            )
            self._task = self._progress.add_task(self.name, total=100, message="")
            self._progress.start()
        assert self._task is not None
        self._progress.update(self._task, completed=percent or 0.0, message=escape(message or ""))


STORED = ("@arkitekt/file", "@arkitekt/array")
"""The structures whose references are blobs in central storage."""


def parse_arguments(node: Node, arguments: list[str]) -> dict[str, Any]:
    """`key=value` pairs, each value read as its port expects (JSON where it parses)."""
    ports = {port.key: port for port in node.args}
    parsed = {}
    for argument in arguments:
        key, equals, raw = argument.partition("=")
        if not equals:
            fail(f"arguments are key=value, got {argument!r}", f"call it as {node.signature()}")
        if key in parsed:
            fail(f"{key} is given twice", f"call it as {node.signature()}")
        port = ports.get(key)
        parsed[key] = local_files(port, parse_value(port, raw), key) if port else raw
    return parsed


def parse_value(port: Port, raw: str) -> Any:
    from arkitekt.api.enums import PortKind

    if port.nullable and (raw == "null" or (raw == "None" and port.kind is not PortKind.STRING)):
        return None
    if port.kind is PortKind.BOOL and raw.lower() in ("true", "false"):
        return raw.lower() == "true"  # JSON's spelling, or Python's
    if port.kind is PortKind.STRUCTURE and raw.startswith("@"):
        return raw  # a local file: `local_files` reads it
    if port.identifier in STORED and Path(raw).is_file():  # another structure's may be a path
        fail(
            f"{port.key}: {raw} is a local file; a reference was expected",
            f"pass {port.key}=@{raw}",
        )
    if port.kind in (PortKind.STRING, PortKind.ENUM):
        with contextlib.suppress(ValueError):
            value = json.loads(raw)
            if isinstance(value, str):
                return value
        return raw
    if port.kind is PortKind.DATETIME:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(raw)
        return raw
    try:
        return json.loads(raw)
    except ValueError as error:
        if port.kind in (PortKind.LIST, PortKind.DICT, PortKind.MODEL):
            example = "'[1, 2.5]'" if port.kind is PortKind.LIST else """'{"x": 1}'"""
            fail(
                f"{port.key}: {raw!r} is not JSON ({error})",
                f"write it as JSON, quoted for the shell: {port.key}={example}",
            )
        return raw


def local_files(port: Port, value: Any, where: str) -> Any:
    """The value with each "@PATH" where a File or an Array goes read from that local
    file, however deep: `images='["@a.npy", "@b.npy"]'` for a `list[Array]`."""
    from arkitekt.api.enums import PortKind

    if isinstance(value, str) and value.startswith("@"):
        kinds = [port, *port.children] if port.kind is PortKind.UNION else [port]
        structure = next((p for p in kinds if p.kind is PortKind.STRUCTURE), None)
        return local_structure(structure, Path(value[1:]), where) if structure else value
    if not port.has_structures:
        return value
    if port.kind is PortKind.UNION:  # the member a list or a dict may be
        fits = (PortKind.LIST,) if isinstance(value, list) else (PortKind.DICT, PortKind.MODEL)
        member = next((p for p in port.children if p.kind in fits and p.has_structures), None)
        return local_files(member, value, where) if member else value
    if port.kind is PortKind.LIST and isinstance(value, list):
        item = port.children[0]
        return [local_files(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if port.kind is PortKind.DICT and isinstance(value, dict):
        entry = port.children[0]
        return {k: local_files(entry, v, f"{where}.{k}") for k, v in value.items()}
    if port.kind is PortKind.MODEL and port.model is not None and isinstance(value, dict):
        fields = {f.key: f for f in port.model.fields}
        return {
            k: local_files(fields[k], v, f"{where}.{k}") if k in fields else v
            for k, v in value.items()
        }
    return value


def local_structure(port: Port, path: Path, where: str) -> Any:
    """`key=@PATH`: a local file as the port's structure, uploaded when the call is sent."""
    from arkitekt.errors import StructureError

    if not path.is_file():
        fail(f"{where}: no file at {path}")
    if port.identifier == "@arkitekt/file":
        from arkitekt.structures import File

        return File(path)
    if port.identifier == "@arkitekt/array":
        try:
            import numpy as np

            from arkitekt.structures import Array

            return Array(np.load(path, allow_pickle=False))
        except ImportError:
            fail(f"{where}: reading an Array needs numpy", 'pip install "arkitekt[arrays]"')
        except (ValueError, OSError, StructureError) as error:
            hint = "write it with numpy.save"
            fail(f"{where}: {path} is not a numeric .npy file: {error}", hint)
    fail(
        f"{where}: a {port.identifier} is passed by its reference, not a file",
        "pass the reference a call returned",
    )


def uploads(arguments: dict[str, Any]) -> contextlib.AbstractContextManager[None]:
    """A progress bar while the local files among the arguments upload."""
    local = [v for v in _stored_in(list(arguments.values())) if v.reference is None]
    if not local:
        return contextlib.nullcontext()
    total = sum(getattr(v, "nbytes", 0) or getattr(v, "size", 0) or 0 for v in local)  # Array, File
    return upload_bar("uploading", total)


def _stored_in(value: Any) -> Iterator[Stored]:
    """The Arrays and Files in a value, however deep in its lists and dicts."""
    from arkitekt.structures.stored import Stored

    if isinstance(value, Stored):
        yield value
    elif isinstance(value, list | dict):
        for each in value.values() if isinstance(value, dict) else value:
            yield from _stored_in(each)
