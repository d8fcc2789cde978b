"""The dashboard's files, as the server serves them (no browser needed)."""

from __future__ import annotations

import re

import aiohttp
import yarl

from arkitekt.testing import RunningPlatform


async def test_the_dashboard_is_served_at_the_root_with_a_strict_policy(
    server: RunningPlatform,
) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        html = await response.text()
        policy = response.headers["Content-Security-Policy"]
    assert '<script type="module" src="dashboard/js/main.js">' in html
    # Only our own files run; the one inline script (the import map) is allowed by its hash.
    assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/=]+'", policy)
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


async def test_assets_ship_with_the_package_and_are_revalidated(server: RunningPlatform) -> None:
    async with aiohttp.ClientSession() as session:
        for path, kind in [
            ("/dashboard/js/main.js", "javascript"),
            ("/dashboard/vendor/preact.mjs", "javascript"),
            ("/dashboard/css/app.css", "text/css"),
            ("/dashboard/fonts/inter-latin-wght-normal.woff2", "font/woff2"),
        ]:
            async with session.get(server.url + path) as response:
                assert response.status == 200, path
                assert kind in response.content_type, (path, response.content_type)
                assert response.headers["Cache-Control"] == "no-cache"
        # Only the static folder: an encoded `..` does not reach the module beside it.
        outside = yarl.URL(f"{server.url}/dashboard/%2E%2E/__init__.py", encoded=True)
        async with session.get(outside) as response:
            assert response.status == 404


async def test_the_api_and_health_keep_their_paths(server: RunningPlatform) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/health") as response:
            assert await response.json() == {"status": "ok"}
        headers = {"Authorization": f"Bearer {server.token}"}
        async with session.post(
            f"{server.url}/graphql", json={"query": "{ me { name } }"}, headers=headers
        ) as response:
            assert (await response.json())["data"]["me"]["name"]
