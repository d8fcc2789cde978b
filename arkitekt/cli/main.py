"""The `arkitekt` command: the Typer app, `server` and `run`; the other commands live in
modules named after what they do, and are added at the bottom."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from . import accounts, blobs, calling, dev, listing, scaffold, shipping
from .output import (
    AppFileArgument,
    AppNameOption,
    JsonOption,
    TeamsOption,
    TokenOption,
    UrlOption,
    console,
    errors,
    fail,
    print_ports,
    print_serving,
    run_async,
    serving_agent,
    show_calls,
    show_platform,
    transfer_bar,
    upload_bar,
)

app = typer.Typer(
    name="arkitekt",
    help="Host typed Python functions for your team, and call your team's functions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

GIB = 1 << 30
DataDirOption = Annotated[
    Path | None,
    typer.Option(help="Where the database and blobs live.", show_default="~/.local/share/arkitekt"),
]
DatabaseUrlOption = Annotated[
    str | None, typer.Option(help="A SQLAlchemy URL instead of the embedded SQLite.")
]

__all__ = ["JsonOption", "TokenOption", "UrlOption", "app", "console", "errors", "fail", "main"]


def main() -> None:
    app()


@app.command()
def server(
    host: Annotated[str, typer.Option(help="The interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port; 0 picks a free one.")] = 6888,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    run: Annotated[
        list[Path] | None, typer.Option("--run", help="Also serve the functions of this app file.")
    ] = None,
    production: Annotated[
        bool,
        typer.Option(
            "--production",
            envvar="ARKITEKT_PRODUCTION",
            help="Serve the public: no introspection or suggestions; needs ARKITEKT_ADMIN_TOKEN.",
        ),
    ] = False,
    admin_token_file: Annotated[
        Path | None,
        typer.Option(help="A file holding the admin token (else ARKITEKT_ADMIN_TOKEN)."),
    ] = None,
    blob_retention: Annotated[
        float | None,
        typer.Option(
            envvar="ARKITEKT_BLOB_RETENTION",
            min=0.0,
            help="Free blobs (arrays, files) older than this many days; releases' bundles "
            "and the arguments of unfinished calls are kept. Default: keep every blob.",
            show_default=False,
        ),
    ] = None,
    history_retention: Annotated[
        float | None,
        typer.Option(
            envvar="ARKITEKT_HISTORY_RETENTION",
            min=0.0,
            help="Delete calls, with their events, this many days after they ended; "
            "unfinished calls are kept. Default: keep every call.",
            show_default=False,
        ),
    ] = None,
    max_object_gib: Annotated[
        float,
        typer.Option(
            envvar="ARKITEKT_MAX_OBJECT_GIB",
            min=0.0,
            help="The largest object one upload may store, in GiB (arrays are stored in "
            "chunks of 8 MiB; files whole).",
        ),
    ] = 64.0,
    reserved_disk_gib: Annotated[
        float,
        typer.Option(
            envvar="ARKITEKT_RESERVED_DISK_GIB",
            min=0.0,
            help="Disk, in GiB, that blobs stored in a folder leave free for the database; "
            "an upload that would use it is refused.",
        ),
    ] = 1.0,
    storage_quota_gib: Annotated[
        float | None,
        typer.Option(
            envvar="ARKITEKT_STORAGE_QUOTA_GIB",
            min=0.0,
            help="How much each user's blobs may hold, in GiB; an upload past it is refused. "
            "Default: no limit.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the platform: SQLite and local storage, no other setup."""
    try:
        from arkitekt.server.limits import Limits
        from arkitekt.server.serve import AlreadyServing, serve
        from arkitekt.server.settings import Settings
    except ImportError as error:
        fail(f'the server is not installed ({error.name}): pip install "arkitekt[server]"')
    from arkitekt.config import config_path, platform_data, read_config_file, write_config_file
    from arkitekt.config import data_dir as default_data_dir

    data = (data_dir or default_data_dir()).resolve()
    stored: dict[str, str] = {}
    owner, ours, known = None, False, None
    if not production:  # in production the admin token is the operator's secret, never kept
        stored = read_config_file()
        # The config is one platform's: another (a scratch platform, a backup's copy) must
        # not take the user's commands, and the admin token kept there, away from it.
        owner = platform_data(stored)
        ours = owner in (None, data)
        # The admin token it has already: the config's, or the one it told the user to export.
        known = stored.get("token") if ours else os.environ.get("ARKITEKT_TOKEN")
    secret = os.environ.get("ARKITEKT_ADMIN_TOKEN")
    if admin_token_file is not None:
        try:
            secret = admin_token_file.read_text().strip()
        except OSError as error:
            fail(f"cannot read the admin token file {admin_token_file}: {error.strerror}")
    settings = Settings(
        data_dir=data,
        host=host,
        port=port,
        database_url=database_url,
        admin_token=secret or known,
        production=production,
        blob_retention=blob_retention,
        history_retention=history_retention,
        limits=Limits(object_size=int(max_object_gib * GIB)),
        reserved_disk=int(reserved_disk_gib * GIB),
        storage_quota=None if storage_quota_gib is None else int(storage_quota_gib * GIB),
    )
    try:
        settings.check()
    except ValueError as error:
        fail(str(error))

    async def serving() -> None:
        show_platform()
        try:
            context = serve(settings)
            running = await context.__aenter__()
        except OSError as error:
            fail(f"cannot listen on {host}:{port} ({error.strerror}); pass --port")
        except AlreadyServing as error:
            fail(str(error))
        try:
            if ours and (running.new_token or stored.get("url") != running.url):
                write_config_file(running.url, running.admin_token, data=data)
            console.print(f"[bold green]arkitekt[/] platform at [bold]{running.url}[/]")
            console.print(f"  data      {settings.data_dir}")
            if blob_retention is not None:
                console.print(f"  blobs     kept {blob_retention:g} days")
            if history_retention is not None:
                console.print(f"  calls     kept {history_retention:g} days after they end")
            if storage_quota_gib is not None:
                console.print(f"  quota     {storage_quota_gib:g} GiB of blobs per user")
            if production:
                console.print("  mode      production (the admin token is ARKITEKT_ADMIN_TOKEN)")
            elif ours:
                console.print(f"  config    {config_path()}")
                if running.new_token:
                    console.print(
                        f"  token     {running.admin_token}  [dim](new; saved in the config)[/]"
                    )
            else:
                console.print(
                    f"  config    {config_path()} stays with the platform in {owner}; to use "
                    f"this one:\n            export ARKITEKT_URL={running.url} "
                    f"ARKITEKT_TOKEN={running.admin_token}\n            (or remove the "
                    "config: started again, this one writes its own)",
                    markup=False,
                )
            await _serve_apps(running.url, running.admin_token, run or [], running.wait_exiting)
        finally:
            await context.__aexit__(None, None, None)

    run_async(serving(), on_sigterm=False)


@app.command()
def backup(
    destination: Annotated[Path, typer.Argument(help="A new folder for the copy.")],
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Copy the embedded platform's database and blobs into a new folder, while it serves.
    The copy is a data directory: `arkitekt server --data-dir DESTINATION` serves it."""
    import time

    try:
        from arkitekt.server.backup import BackupError, back_up, planned_size
        from arkitekt.server.settings import Settings
    except ImportError as error:
        fail(f'the server is not installed ({error.name}): pip install "arkitekt[server]"')
    from arkitekt.config import data_dir as default_data_dir

    settings = Settings(data_dir=data_dir or default_data_dir(), database_url=database_url)
    started = time.monotonic()
    try:
        with transfer_bar() as bar:
            task = bar.add_task("blobs", total=planned_size(settings))
            copy = back_up(settings, destination, lambda size: bar.advance(task, size))
    except BackupError as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot copy the platform to {destination}: {error.strerror or error}")
    took = time.monotonic() - started
    console.print(
        f"backed up {copy.calls} calls and {copy.blobs} blobs ({copy.size / (1 << 20):.1f} MiB) "
        f"to {destination} in {took:.1f} s"
    )
    if copy.bucket:
        console.print(f"  the blobs stay in {copy.bucket}: back the bucket up with its tools")
    elif settings.storage_url:
        console.print(
            f"  the copy keeps its blobs in {destination / 'blobs'}: serve it without "
            "ARKITEKT_STORAGE_URL",
            markup=False,
        )
    if copy.lost:
        errors.print(
            f"  {len(copy.lost)} blobs had no bytes in storage (freed while the backup ran): "
            "the copy leaves them out",
            style="yellow",
        )
    console.print(f"  serve it with: arkitekt server --data-dir {destination}", markup=False)


async def _serve_apps(url: str, token: str, paths: list[Path], until: Any) -> None:
    from arkitekt.runtime.apps import app_name, load_app
    from arkitekt.runtime.caller import Client

    async with contextlib.AsyncExitStack() as stack:
        if paths:
            show_calls(every=False)
            client = await stack.enter_async_context(Client(url, token))
            for path in paths:
                registry = load_app(path)
                await stack.enter_async_context(
                    serving_agent(client, registry, name=app_name(path))
                )
                names = ", ".join(i.interface for i in registry)
                console.print(f"  serving   {path} ({names})")
        console.print("[dim]Ctrl-C stops.[/]")
        await until()


@app.command("run")
def run_app(
    path: AppFileArgument,
    name: AppNameOption = None,
    team: TeamsOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Serve the functions an app file registers, until Ctrl-C. Only you (and the members
    of the teams given with --team) see and call them.

    A call that fails prints its traceback here (its caller gets it too).
    """
    from arkitekt.runtime.apps import app_name, load_app
    from arkitekt.runtime.caller import connect

    async def serving() -> None:
        registry = load_app(path)
        show_calls(every=False)
        async with (
            connect(url, token) as client,
            serving_agent(client, registry, name=name or app_name(path), teams=team or ()) as agent,
        ):
            print_serving(agent, registry, client.url)
            await agent.wait_closed()

    run_async(serving())


@app.command()
def inspect(
    path: AppFileArgument,
    as_json: JsonOption = False,
) -> None:
    """Show what an app's functions become: ports, kinds, defaults, constraints, widgets, hashes."""
    import json

    from arkitekt.errors import ArkitektError
    from arkitekt.runtime.apps import load_app
    from arkitekt.runtime.catalogue import definitions

    try:
        registry = load_app(path)
    except ArkitektError as error:
        fail(str(error))
    if as_json:
        console.print_json(json.dumps(definitions(registry)))
        return
    for implementation in registry:
        print_ports(implementation.node)


@app.command()
def upload(
    path: Annotated[Path, typer.Argument(help="The file to store.")],
    media_type: Annotated[
        str | None, typer.Option(help="Its media type; guessed from the name.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Store a file in central storage and print its reference, for File arguments:
    `arkitekt call count_lines log=<reference>`."""
    from arkitekt.runtime.caller import connect
    from arkitekt.structures import File

    if not path.is_file():
        fail(f"no file at {path}")

    async def uploading() -> str:
        with upload_bar(path.name, path.stat().st_size):
            async with connect(url, token) as client:
                with client.storage.activate():
                    return await File(path, media_type=media_type).shrink()

    reference = run_async(uploading())
    console.print(reference, markup=False)


app.command()(blobs.download)
app.command()(dev.dev)
app.command("init")(scaffold.init)
app.add_typer(accounts.users)
app.add_typer(accounts.teams)
app.add_typer(accounts.tokens)
app.add_typer(blobs.blobs)
app.command()(listing.nodes)
app.command()(listing.agents)
app.command()(listing.assignations)
app.command(context_settings={"ignore_unknown_options": True})(calling.call)
app.command()(calling.follow)
app.command()(calling.cancel)
app.command()(shipping.build)
app.command()(shipping.publish)
app.command()(shipping.releases)
app.command()(shipping.host)
app.command()(shipping.hosts)
app.command()(shipping.deploy)
app.command()(shipping.deployments)
app.command()(shipping.undeploy)
app.command()(shipping.logs)
