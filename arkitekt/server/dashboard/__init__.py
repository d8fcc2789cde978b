"""The dashboard: a single-page app served at `/`, shipped as static files in this package.

It builds nothing at install time and talks to the platform only through the public APIs
(GraphQL over HTTP and graphql-transport-ws on `/graphql`, blobs on `/blobs`), like every
other client. The page keeps the token in the browser's sessionStorage; it never travels in
a URL.

    /                           index.html, with a Content-Security-Policy for our files only
    /dashboard/<build>/...      scripts, styles, fonts and vendored libraries (`static/`)

`<build>` is a digest of the files, so browsers may cache them for good: another version of
the files has another address, and the page always names the current one.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

_ASSETS = re.compile(r"(?<=[\"'(])(\./)?dashboard/")
_IMPORT_MAP = re.compile(r"<script type=\"importmap\">(.*?)</script>", re.DOTALL)


class _Assets(StaticFiles):
    """The files under a digest of their content: cached by browsers until they change."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@dataclass(frozen=True)
class _Page:
    html: str
    headers: dict[str, str]
    assets: str
    """Where the files are served: `/dashboard/<build>`."""


@cache
def _page() -> _Page:
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    assets = f"dashboard/{digest.hexdigest()[:12]}"
    html = _ASSETS.sub(
        lambda found: f"{found[1] or ''}{assets}/",
        (STATIC / "index.html").read_text(encoding="utf-8"),
    )
    # Browsers load no external import map: it is inline, and allowed by its hash alone.
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _IMPORT_MAP.findall(html)
    )
    policy = "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {hashes}",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    headers = {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return _Page(html, headers, f"/{assets}")


async def _index(request: Request) -> Response:
    page = _page()
    return HTMLResponse(page.html, headers=page.headers)


def routes() -> list[BaseRoute]:
    """The dashboard's routes: the page at `/` and its files under `/dashboard/<build>/`."""
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Mount(_page().assets, app=_Assets(directory=STATIC), name="dashboard"),
    ]
