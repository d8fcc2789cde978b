"""The dashboard: a single-page app served at `/`, shipped as static files in this package.

It builds nothing at install time and talks to the platform only through the public GraphQL
API (HTTP POST and graphql-transport-ws on `/graphql`), like every other client. The page
keeps the token in the browser's sessionStorage; it never travels in a URL.

    /                   index.html, with a Content-Security-Policy that allows only our files
    /dashboard/...      scripts, styles, fonts and vendored libraries (`static/`)
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
ASSETS_PATH = "/dashboard"

_INLINE_SCRIPT = re.compile(r"<script type=\"importmap\">(.*?)</script>", re.DOTALL)


class _Assets(StaticFiles):
    """Static files that browsers revalidate on every load, so an upgrade never mixes versions
    of the modules (revalidation is a cheap 304 thanks to the ETag)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@cache
def _page() -> tuple[str, dict[str, str]]:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    # The import map must be inline (browsers do not load external ones); allow exactly it.
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(html)
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
    return html, headers


async def _index(request: Request) -> Response:
    html, headers = _page()
    return HTMLResponse(html, headers=headers)


def routes() -> list[BaseRoute]:
    """The dashboard's routes: the page at `/` and its files under `/dashboard/`."""
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Mount(ASSETS_PATH, app=_Assets(directory=STATIC), name="dashboard"),
    ]
