"""`arkitekt blob`: what your blobs hold in central storage, and freeing them.

    arkitekt upload scan.tif                 # prints the new blob's reference
    arkitekt blob list                       # yours, newest first, with their sizes
    arkitekt blob delete 3f2a... 9c41...

A quota (`arkitekt server --storage-quota-gib`) bounds what each user's blobs hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .listing import fetch, table
from .output import JsonOption, TokenOption, UrlOption, console, errors, moment, print_json

if TYPE_CHECKING:
    from arkitekt.runtime.caller import Client

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
