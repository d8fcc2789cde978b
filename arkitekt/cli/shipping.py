"""Shipping apps: `build`, `publish` and `releases`; `host`, `hosts`; `deploy`,
`deployments`, `undeploy` and `logs`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from .listing import fetch, status, table
from .output import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    errors,
    fail,
    last_seen,
    moment,
    print_json,
    run_async,
    transfer_bar,
    wait_for_platform,
)

if TYPE_CHECKING:
    from arkitekt.runtime.caller import Client
    from arkitekt.runtime.releases import Bundle

TeamOption = Annotated[
    list[str] | None,
    typer.Option("--team", help="A team (repeat it): its members see and call the app."),
]
HostOption = Annotated[str, typer.Option("--host", help="The host's name.", show_default=False)]
_ID = re.compile(r"[0-9a-f]{32}")


def _bundle(folder: Path, version: str | None) -> Bundle:
    from arkitekt.errors import ArkitektError
    from arkitekt.runtime.releases import build as build_bundle

    if folder.suffix == ".py" and (folder.parent / "pyproject.toml").is_file():
        folder = folder.parent  # an app file, given for its folder
    try:
        return build_bundle(folder, version=version)
    except ArkitektError as error:
        fail(str(error))


def build(
    folder: Annotated[
        Path, typer.Argument(help="The app's folder, with its pyproject.toml, or its app file.")
    ] = Path("."),
    version: Annotated[
        str | None, typer.Option(help="The release's version; default: pyproject.toml's.")
    ] = None,
    image: Annotated[
        bool, typer.Option("--image", help="Also write a Containerfile and build the image.")
    ] = False,
    base: Annotated[
        str | None,
        typer.Option(
            help="The image's base: any image with Python and venv.", show_default="python:3.X-slim"
        ),
    ] = None,
    tag: Annotated[
        str | None, typer.Option(help="The image's tag.", show_default="APP:VERSION")
    ] = None,
) -> None:
    """Build a release of an app: a bundle of its code, its requirements and the
    definitions of its functions, in dist/. `arkitekt publish` uploads it."""
    from arkitekt.runtime.containers import ImageError, build_image, engine, prepare

    bundle = _bundle(folder, version)
    manifest = bundle.manifest
    console.print(f"[bold green]built[/] {manifest.app} {manifest.version}: {bundle.path}")
    for function in manifest.functions:
        console.print(f"  {escape(function['interface'])}", style="dim")
    if not image:
        return
    context = bundle.path.parent / f"{manifest.app}-{manifest.version}-image"
    try:
        containerfile = prepare(bundle, context, base=base)
        console.print(f"[bold green]wrote[/] {containerfile}")
        if engine() is None:
            errors.print(
                "no podman or docker here: build it elsewhere with "
                f"`podman build -t {manifest.app}:{manifest.version} {context}`"
            )
            return
        name = tag or f"{manifest.app}:{manifest.version}"
        build_image(context, name)
    except ImageError as error:
        fail(str(error))
    console.print(f"[bold green]image[/] {name}")


def publish(
    path: Annotated[
        Path,
        typer.Argument(
            help="An app's folder or app file (built first), or a bundle from `arkitekt build`."
        ),
    ] = Path("."),
    version: Annotated[
        str | None, typer.Option(help="The version, when building; default: pyproject.toml's.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Upload a release to the platform: hosts can run it, and everyone who sees it can
    read what its functions take and return before it runs."""

    from arkitekt.api.input_types import ImplementationInput, NodeInput, ReleaseInput
    from arkitekt.runtime.caller import connect
    from arkitekt.runtime.releases import BUNDLE_KEY, Bundle, ReleaseError, read_manifest
    from arkitekt.runtime.storage import upload_progress

    if path.is_dir() or path.suffix == ".py":
        bundle = _bundle(path, version)
    else:
        try:
            bundle = Bundle(path, read_manifest(path))
        except ReleaseError as error:
            fail(str(error))
    manifest, size = bundle.manifest, bundle.path.stat().st_size

    async def publishing() -> Any:
        async with connect(url, token) as client:
            with transfer_bar() as bar:
                task = bar.add_task(bundle.path.name, total=size)
                hook = upload_progress.set(lambda _k, sent, _t: bar.update(task, completed=sent))
                try:
                    blob = await client.storage.create()
                    await client.storage.put(
                        blob, BUNDLE_KEY, bundle.path, media_type="application/gzip"
                    )
                finally:
                    upload_progress.reset(hook)
            functions = [
                ImplementationInput(
                    interface=f["interface"],
                    node=NodeInput.model_validate(
                        {k: v for k, v in f.items() if k not in ("interface", "hash")}
                    ),
                )
                for f in manifest.functions
            ]
            return await client.api.publish_release(
                input=ReleaseInput(
                    app=manifest.app,
                    version=manifest.version,
                    entry=manifest.entry,
                    requirements=manifest.requirements,
                    blob=blob,
                    digest=bundle.digest,
                    functions=functions,
                )
            )

    release = run_async(publishing())
    console.print(
        f"[bold green]published[/] {release.app} {release.version} "
        f"({len(release.functions)} functions) [dim]release {release.id}[/]"
    )


def releases(
    app: Annotated[str | None, typer.Argument(help="Only this app's.")] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the releases you see, newest first, with the functions each offers."""
    found = fetch(url, token, lambda client: client.api.releases(app=app))
    if as_json:
        print_json([release.model_dump(mode="json") for release in found])
        return
    if not found:
        console.print("No releases yet: `arkitekt publish` in an app's folder makes one.")
        return
    rows = table("app", "version", "functions", "publisher", "published", "id")
    for release in found:
        rows.add_row(
            escape(release.app),
            escape(release.version),
            escape(", ".join(f.interface for f in release.functions)),
            escape(release.publisher.name),
            moment(release.created_at),
            f"[dim]{release.id}[/]",
        )
    console.print(rows)


def host(
    name: Annotated[str, typer.Option("--name", help="The host's name on the platform.")],
    team: Annotated[
        list[str] | None,
        typer.Option("--team", help="A team whose members may deploy here (repeat it)."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where releases and environments are kept.",
            show_default="~/.local/share/arkitekt/host",
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where wheels and environments are cached.", show_default="DATA_DIR/cache"
        ),
    ] = None,
    grace: Annotated[
        float, typer.Option(help="Seconds a stopping app has to finish its calls.")
    ] = 10.0,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Run the releases deployed to this machine, until Ctrl-C: fetch them, build their
    environments, start their apps, restart them when they crash, and report their state.
    Needs a host token (`arkitekt token create NAME --scope host`)."""
    from arkitekt.runtime.caller import connect
    from arkitekt.runtime.host import Host

    def echo(line: str) -> None:
        console.print(line, markup=False)

    async def hosting() -> None:
        from arkitekt.config import data_dir as machine_data

        folder = data_dir or machine_data() / "host"
        async with connect(url, token) as client:
            await wait_for_platform(client)
            supervisor = Host(
                client,
                name=name,
                data_dir=folder,
                teams=team,
                grace=grace,
                cache=cache_dir,
                echo=echo,
            )

            def ready() -> None:
                console.print(
                    f"[bold green]host[/] {name} on {client.url} (host {supervisor.id}); "
                    f"data in {folder}"
                )

            await supervisor.run(ready)

    run_async(hosting())


def hosts(as_json: JsonOption = False, url: UrlOption = None, token: TokenOption = None) -> None:
    """List the hosts you may deploy to."""
    found = fetch(url, token, lambda client: client.api.hosts())
    if as_json:
        print_json([found_host.model_dump(mode="json") for found_host in found])
        return
    if not found:
        console.print("No hosts yet: `arkitekt host --name NAME` runs one.")
        return
    rows = table("name", "status", "cpus", "memory", "gpus", "owner", "teams", "last seen")
    for row in found:
        memory = f"{row.memory / 2**30:.0f} GiB" if row.memory else "-"
        rows.add_row(
            escape(row.name),
            status(row.status.value),
            str(row.cpus or "-"),
            memory,
            escape(", ".join(row.gpus) or "-"),
            escape(row.owner.name),
            escape(", ".join(t.name for t in row.teams) or "-"),
            last_seen(row.status, row.last_seen),
        )
    console.print(rows)


async def _host_named(client: Client, name: str) -> Any:
    found = await client.api.get_host(name=name)
    if found is None:
        fail(f"no host named {name!r} that you may deploy to", "`arkitekt hosts` lists them")
    return found


async def _release(client: Client, target: str) -> Any:
    app, _, version = target.partition(":")
    found = [r for r in await client.api.releases(app=app) if not version or r.version == version]
    if not found:
        what = f"version {version} of {app!r}" if version else f"{app!r}"
        fail(f"no release of {what}", "`arkitekt releases` lists them; `arkitekt publish` adds one")
    return found[0]  # newest first


def deploy(
    target: Annotated[str, typer.Argument(help="APP or APP:VERSION (default: the newest).")],
    on: HostOption,
    team: TeamOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Run a release on a host. When the host runs the app already, upgrade it: the new
    version starts before the old one stops, so its functions stay callable."""
    from arkitekt.runtime.caller import connect

    async def deploying() -> Any:
        async with connect(url, token) as client:
            release = await _release(client, target)
            found = await _host_named(client, on)
            return await client.api.deploy(release=release.id, host=found.id, teams=team)

    deployment = run_async(deploying())
    console.print(
        f"[bold green]deployed[/] {deployment.app} {deployment.release.version} to "
        f"{deployment.host.name} ({deployment.status.value.lower()}) "
        f"[dim]deployment {deployment.id}[/]"
    )


async def _deployment(client: Client, app: str, on: str) -> Any:
    if _ID.fullmatch(app):
        found = await client.api.get_deployment(id=app)
        if found is not None:
            return found
    where = await _host_named(client, on) if on else None
    for deployment in await client.api.deployments(host=where.id if where else None):
        if deployment.app == app:
            return deployment
    fail(f"no deployment of {app!r}" + (f" on {on}" if on else ""), "`arkitekt deployments`")


def deployments(
    on: Annotated[str | None, typer.Option("--host", help="Only this host's.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Stopped ones too.")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List what runs where: each deployment's release, host and state."""
    from arkitekt.runtime.caller import connect

    async def listing() -> Any:
        async with connect(url, token) as client:
            where = await _host_named(client, on) if on else None
            return await client.api.deployments(host=where.id if where else None, all=all_)

    found = run_async(listing())
    if as_json:
        print_json([deployment.model_dump(mode="json") for deployment in found])
        return
    if not found:
        console.print("Nothing deployed: `arkitekt deploy APP --host NAME` runs a release.")
        return
    rows = table("app", "version", "host", "status", "restarts", "updated", "message")
    for row in found:
        rows.add_row(
            escape(row.app),
            escape(row.release.version),
            escape(row.host.name)
            + ("" if row.host.status.value == "CONNECTED" else " [dim](offline)[/]"),
            status(row.status.value),
            str(row.restarts),
            moment(row.updated_at),
            escape(row.message or ""),
        )
    console.print(rows)


def undeploy(
    app: Annotated[str, typer.Argument(help="The app (or a deployment's id).")],
    on: Annotated[str, typer.Option("--host", help="The host's name.")] = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Stopped at once, without waiting for the host (one that is gone for good); "
            "the app's tokens are revoked.",
        ),
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Stop a deployment: its host lets the app finish its calls, then stops it."""
    from arkitekt.runtime.caller import connect

    async def stopping() -> Any:
        async with connect(url, token) as client:
            found = await _deployment(client, app, on)
            return await client.api.undeploy(deployment=found.id, force=force)

    deployment = run_async(stopping())
    console.print(
        f"[bold green]undeployed[/] {deployment.app} from {deployment.host.name} "
        f"({deployment.status.value.lower()})"
    )


def logs(
    app: Annotated[str, typer.Argument(help="The app (or a deployment's id).")],
    on: Annotated[str, typer.Option("--host", help="The host's name.")] = "",
    lines: Annotated[int, typer.Option(help="How many of the latest lines.")] = 100,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print what a deployment's app printed lately."""
    from arkitekt.runtime.caller import connect

    async def reading() -> Any:
        async with connect(url, token) as client:
            found = await _deployment(client, app, on)
            return await client.api.get_deployment(id=found.id, logs=lines)

    deployment = run_async(reading())
    for entry in deployment.logs if deployment is not None else []:
        console.print(entry.line, markup=False)
