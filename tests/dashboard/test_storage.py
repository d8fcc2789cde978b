"""What your blobs hold, shown beside your name, and kept current as you move around."""

from __future__ import annotations

from playwright.async_api import Page, expect

import arkitekt
from arkitekt.runtime.storage import storage_of
from arkitekt.testing import RunningPlatform
from tests.accounts import add_user

from .conftest import sign_in


async def test_the_sidebar_shows_what_your_blobs_hold(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    _, token = await add_user(client, "imager")
    async with arkitekt.connect(server.url, token) as imager:
        storage = storage_of(imager)
        blob = await storage.create()
        await storage.put(blob, "c/0", b"x" * 1536)

        await sign_in(page, server, token)
        who = page.locator(".who")
        await expect(who).to_contain_text("1.5 kB stored")

        await storage.put(blob, "c/1", b"x" * (3 << 20))
        await page.get_by_role("link", name="Agents").click()
        await expect(who).to_contain_text("3.1 MB stored")
        await storage.delete(blob)
        await page.get_by_role("link", name="Assignations").click()
        await expect(who).to_contain_text("0 bytes stored")
