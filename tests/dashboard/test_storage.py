"""Your blobs in the dashboard: what they hold beside your name, and a page to free them."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

import arkitekt
from arkitekt.runtime.storage import storage_of
from arkitekt.testing import RunningPlatform
from tests.accounts import add_user
from tests.shipping.apps import publish

from .conftest import screenshot, sign_in


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


async def test_the_storage_page_lists_your_blobs_and_frees_them(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    _, token = await add_user(client, "freer")
    async with arkitekt.connect(server.url, token) as freer:
        storage = storage_of(freer)
        old, new = await storage.create(), await storage.create()
        await storage.put(old, "data", b"o" * 2000)
        await storage.put(new, "a", b"n" * 500)
        await storage.put(new, "b", b"n" * 500)
        release = await freer.api.get_release(id=await publish(freer, "kept"))
        assert release is not None
        bundle = release.blob

        await sign_in(page, server, token)
        await page.get_by_role("link", name="Storage").click()
        await expect(page.locator("[data-stored]")).to_have_text("3.0 kB")
        rows = page.locator("tbody tr")
        await expect(rows).to_have_count(3)
        await expect(rows.nth(0)).to_have_attribute("data-blob", bundle)  # newest first
        await expect(rows.nth(1)).to_contain_text("1.0 kB")
        await expect(rows.nth(2)).to_contain_text(old)
        await screenshot(page, "storage")

        await page.get_by_role("button", name=f"Delete blob {old}").click()
        await expect(page.locator(f"[data-blob='{old}']")).to_have_count(0)
        await expect(page.locator("[data-stored]")).to_have_text("1.0 kB")
        await expect(page.locator(".who")).to_contain_text("1.0 kB stored")
        with_bundle = page.locator(f"[data-blob='{bundle}']")
        await with_bundle.get_by_role("button", name=f"Delete blob {bundle}").click()
        await expect(with_bundle.get_by_role("alert")).to_contain_text("is the bundle of kept")
        with pytest.raises(arkitekt.NotFoundError):
            await storage.objects(old)
        assert set(await storage.objects(bundle)) == {"bundle.tar.gz"}
