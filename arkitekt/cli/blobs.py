"""`arkitekt blob`: what your blobs hold in central storage, and freeing them.

    arkitekt upload scan.tif                 # prints the new blob's reference
    arkitekt download 3f2a... --to results/  # a File under its name, an Array as a .npy
    arkitekt blob list                       # yours, newest first, with their sizes
    arkitekt blob delete 3f2a... 9c41...

A quota (`arkitekt server --storage-quota-gib`) bounds what each user's blobs hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .listing import fetch, table
from .output import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    errors,
    fail,
    moment,
    print_json,
    print_line,
    transfer_bar,
)

if TYPE_CHECKING:
    from arkitekt.runtime.caller import Client
    from arkitekt.runtime.storage import Storage

blobs = typer.Typer(
    name="blob", help="List your blobs in central storage, and delete them.", no_args_is_help=True
)


@blobs.command("list")
def list_blobs(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List your blobs, newest first, with what each holds and what all of them hold."""
    page = fetch(url, token, lambda client: client.storage.blobs(limit=limit))
    if as_json:
        print_json(page)
        return
    rows = table("reference", "size (MiB)", "objects", "created")
    for blob in page.blobs:
        rows.add_row(
            blob.id, f"{blob.size / 2**20:.2f}", str(blob.objects), moment(blob.created_at)
        )
    console.print(rows)
    errors.print(f"your blobs hold {page.stored / 2**30:.2f} GiB in all")


@blobs.command("delete")
def delete_blobs(
    references: Annotated[
        list[str], typer.Argument(help="The blobs' references (`arkitekt blob list`).")
    ],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Delete blobs of yours; a release's bundle, or the argument of a call that has not
    ended, is kept."""

    async def deleting(client: Client) -> None:
        for reference in references:
            await client.storage.delete(reference)
            errors.print(f"deleted blob [bold]{reference}[/]")

    fetch(url, token, deleting)


def download(
    references: Annotated[
        list[str],
        typer.Argument(help="Blob references, as calls and `arkitekt upload` print them."),
    ],
    to: Annotated[
        Path, typer.Option("--to", help="The folder to write into; made when missing.")
    ] = Path(),
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Write blobs from central storage to files: a File under its own name, an Array as a
    .npy file named after its reference. Prints each path; never overwrites a file."""

    async def downloading(client: Client) -> None:
        try:
            await asyncio.to_thread(to.mkdir, parents=True, exist_ok=True)
        except OSError as error:
            fail(f"cannot write into {to}: {error.strerror}", "choose another --to")
        for reference in references:
            print_line(str(await _download(client.storage, reference.strip(), to)))

    fetch(url, token, downloading)


async def _download(storage: Storage, reference: str, folder: Path) -> Path:
    """Writes the blob to a new file in `folder`."""
    from arkitekt.structures import File, expand
    from arkitekt.structures.file import safe_name

    with storage.activate():
        value = await expand(reference)
        name = safe_name(value.name) if isinstance(value, File) else f"{reference}.npy"
        target = _new_file(folder / name, reference)
        try:
            with partial_file(target) as partial, transfer_bar() as bar:
                size = value.size if isinstance(value, File) else value.nbytes
                task = bar.add_task(target.name, total=size)
                advance = functools.partial(bar.advance, task)
                if isinstance(value, File):
                    await value.download(partial, advance)
                else:
                    await value.save(partial, advance)
        except OSError as error:
            fail(f"cannot write {target}: {error.strerror}", "choose another --to")
    return target


@contextlib.contextmanager
def partial_file(target: Path) -> Iterator[Path]:
    """A file to write `target` through, renamed to it once written: an interrupted
    download leaves no file that looks whole."""
    partial = target.with_name(target.name + ".part")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _new_file(path: Path, reference: str) -> Path:
    """`path`, or beside it a name marked with the reference when another file has the
    name; refused when that one exists too (the same blob, downloaded before)."""
    marked = path
    if reference not in path.name:
        marked = path.with_name(f"{path.stem}-{reference[:8]}{path.suffix}")
    for candidate in (path, marked):
        if not candidate.exists():
            return candidate
    fail(f"{marked} exists already: the same blob, downloaded before?", "pass another --to")
