"""The dashboard's reservations: each one's status and live instances as agents come and
go, and ending one."""

from __future__ import annotations

from playwright.async_api import Page, expect

import arkitekt
from arkitekt.api.enums import ReservationStatus, Strategy
from arkitekt.testing import RunningPlatform, serving

from .conftest import screenshot, sign_in


def stain(plate: int) -> str:
    """Stain a plate."""
    return f"plate {plate} stained"


async def test_reservations_follow_their_instances_live_and_end_from_the_page(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, stain, name="stainer"):
        reservation = await client.reserve(stain, strategy=Strategy.LEAST_BUSY, min_instances=2)
        await sign_in(page, server)
        await page.get_by_role("link", name="Reservations").click()
        row = page.locator(f"[data-reservation='{reservation.id}']")
        await expect(row.get_by_role("link", name="stain")).to_be_visible()
        await expect(row.locator("[data-status]")).to_have_attribute("data-status", "WAITING")
        await expect(row).to_contain_text("1 / 2")
        await expect(row).to_contain_text("least busy")
        await expect(row).to_contain_text("any instance")

        async with serving(client, stain, name="stainer"):  # a second instance: the pool
            await expect(row.locator("[data-status]")).to_have_attribute("data-status", "ACTIVE")
            await expect(row).to_contain_text("2 / 2")
            await screenshot(page, "reservations")

            end = row.get_by_role("button", name="End the reservation of stain")
            await end.click()
            await expect(row.locator("[data-status]")).to_have_attribute("data-status", "ENDED")
            await expect(end).to_have_count(0)

    (ended,) = [r for r in await client.api.reservations() if r.id == reservation.id]
    assert ended.status is ReservationStatus.ENDED
