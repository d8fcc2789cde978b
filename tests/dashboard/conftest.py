"""A real browser for the dashboard's tests: Debian's Chromium, driven by Playwright.

The browser starts once per session; each test gets its own context (its own session
storage, so its own sign-in) and fails if the page throws.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from arkitekt.testing import RunningPlatform

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 900}
ARTIFACTS = Path(__file__).parents[2] / "artifacts" / "dashboard"

# Live updates cross a websocket and an agent: allow more than Playwright's 5 s default.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def chromium() -> str:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, server: RunningPlatform) -> AsyncIterator[Page]:
    """A fresh tab on the platform; uncaught errors in the page fail the test."""
    # A time zone with an offset, so that dates are seen to travel with theirs.
    context = await browser.new_context(
        viewport=LAPTOP, base_url=server.url, timezone_id="Europe/Berlin", locale="en-GB"
    )
    opened = await context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    opened.on(
        "console",
        lambda message: (
            message.type == "error"
            # A refused token is an expected 401, which Chromium reports on the console.
            and "Failed to load resource" not in message.text
            and problems.append(f"console: {message.text}")
        ),
    )
    yield opened
    await context.close()
    assert not problems, problems


async def sign_in(page: Page, server: RunningPlatform, token: str | None = None) -> None:
    """Signs in with `token`, by default the platform admin's."""
    await page.goto("/")
    await page.get_by_label("Token").fill(token or server.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("navigation", name="Sections")).to_be_visible()


async def screenshot(page: Page, name: str) -> Path:
    """Saves the whole page as `artifacts/dashboard/<name>.png`.

    The viewport grows to the page's height first, so sticky parts stay where a person
    sees them instead of being repeated by a scrolling capture.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or LAPTOP
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), animations="disabled")
    await page.set_viewport_size(size)
    return path
