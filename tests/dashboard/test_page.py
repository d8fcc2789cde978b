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
    assert re.search(r'<script type="module" src="dashboard/[0-9a-f]{12}/js/main.js">', html)
    # Only our own files run; the one inline script (the import map) is allowed by its hash.
    assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/=]+'", policy)
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


async def test_assets_ship_with_the_package_under_a_digest_of_their_content(
    server: RunningPlatform,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/") as response:
            html = await response.text()
        found = re.search(r'src="(dashboard/[0-9a-f]{12})/js/main.js"', html)
        assert found
        assets = f"{server.url}/{found[1]}"
        for path, kind in [
            ("js/main.js", "javascript"),
            ("vendor/preact.mjs", "javascript"),
            ("css/app.css", "text/css"),
            ("fonts/inter-latin-wght-normal.woff2", "font/woff2"),
        ]:
            async with session.get(f"{assets}/{path}") as response:
                assert response.status == 200, path
                assert kind in response.content_type, (path, response.content_type)
                assert "immutable" in response.headers["Cache-Control"]
        # Another build's address is not served: a page always names the current files.
        async with session.get(f"{server.url}/dashboard/000000000000/js/main.js") as response:
            assert response.status == 404
        # Only the static folder: an encoded `..` does not reach the module beside it.
        outside = yarl.URL(f"{assets}/%2E%2E/__init__.py", encoded=True)
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
