"""The dashboard's deployments: deploy a release to a host, follow its state live as the
host reports it, and undeploy it."""

from __future__ import annotations

from playwright.async_api import Page, expect

import arkitekt
from arkitekt.api.enums import DeploymentStatus
from arkitekt.testing import RunningPlatform
from tests.accounts import unique
from tests.shipping.apps import host_of, publish

from .conftest import screenshot, sign_in


async def test_deploying_from_the_dashboard_and_following_it_live(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    app = unique("segmenter")
    release = await publish(client, app, "1.4")
    host, token = await host_of(client, server.url)
    (found,) = [h for h in await client.api.hosts() if h.id == host]
    await sign_in(page, server)
    await page.get_by_role("link", name="Deployments").click()

    await page.get_by_label("Release").select_option(release)
    await page.get_by_label("Host").select_option(found.id)
    await page.get_by_role("button", name="Deploy").click()
    row = page.locator("tr", has_text=app)
    await expect(row).to_contain_text("1.4")
    await expect(row.locator("[data-status]")).to_have_text("starting")
    await expect(row).to_contain_text("(offline)")

    (deployment,) = [d for d in await client.api.deployments() if d.app == app]
    async with arkitekt.connect(server.url, token) as hosting:
        await hosting.api.report_deployment(
            deployment=deployment.id,
            release=release,
            status=DeploymentStatus.RUNNING,
            message="Serving since a moment.",
        )
        await expect(row.locator("[data-status]")).to_have_text("running")  # live
        await expect(row).to_contain_text("Serving since a moment.")
        await screenshot(page, "deployments")

        await row.get_by_role("button", name=f"Undeploy {app} from {found.name}").click()
        await expect(row.locator("[data-status]")).to_have_text("stopping")
        await hosting.api.report_deployment(
            deployment=deployment.id, release=release, status=DeploymentStatus.STOPPED
        )
        await expect(row).to_have_count(0)


async def test_a_deployment_whose_host_is_gone_is_stopped_without_it(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    app = unique("tracker")
    release = await publish(client, app, "2.0")
    host, _ = await host_of(client, server.url)  # registered, never back online
    found = await client.api.deploy(release=release, host=host)
    await sign_in(page, server)
    await page.get_by_role("link", name="Deployments").click()
    row = page.locator("tr", has_text=app)
    await expect(row).to_contain_text("(offline)")
    force = row.get_by_role("button", name=f"Stop {app} without {found.host.name}")
    await expect(force).to_have_count(0)  # first, the host is asked

    await row.get_by_role("button", name=f"Undeploy {app} from {found.host.name}").click()
    await expect(row.locator("[data-status]")).to_have_text("stopping")
    await force.click()
    await expect(row).to_have_count(0)
    stopped = await client.api.get_deployment(id=found.id)
    assert stopped is not None
    assert stopped.status is DeploymentStatus.STOPPED
