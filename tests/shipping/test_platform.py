"""Releases, hosts and deployments through the API: who may deploy where, what a host
token may do (nothing but host), what a host hears, and what its reports change."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest

import arkitekt
from arkitekt.api.enums import DeploymentStatus, Scope
from arkitekt.api.input_types import ReleaseInput
from arkitekt.runtime.storage import storage_of
from arkitekt.testing import RunningPlatform, running_server
from tests.accounts import add_team, add_user, unique
from tests.cli.processes import arkitekt as run
from tests.conftest import backends
from tests.server.raw import codes, post

from .apps import host_of, publish

ALL = (Scope.ADMIN, Scope.AGENT, Scope.CALL)


async def test_a_host_token_does_nothing_but_host(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    _, token = await host_of(client, server.url)
    for query in (
        "{ nodes { id } }",
        "{ agents { id } }",
        "{ releases { id } }",
        "{ hosts { id } }",
    ):
        assert codes(await post(server.url, token, query)) == ["FORBIDDEN"], query
    created = await post(server.url, token, 'mutation { createToken(name: "x") { secret } }')
    assert codes(created) == ["FORBIDDEN"]
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session,
        session.post(f"{server.url}/blobs") as response,
    ):
        assert response.status == 403
    answer = await post(
        server.url,
        server.token,
        'mutation { createToken(name: "x", scopes: [HOST, CALL]) { secret } }',
    )
    assert codes(answer) == ["INVALID_INPUT"]


async def test_only_a_hosts_owner_and_its_teams_deploy_to_it(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    team = await add_team(client, "imaging")
    _, owner = await add_user(client, "owner", teams=[team], scopes=ALL)
    _, member = await add_user(client, "member", teams=[team])
    _, outsider = await add_user(client, "outsider")
    async with arkitekt.connect(server.url, owner) as o:
        open_host, _ = await host_of(o, server.url, [team])
        own_host, _ = await host_of(o, server.url)
        await publish(o, unique("shared"))
    async with arkitekt.connect(server.url, member) as m:
        release = await publish(m, unique("app"))
        deployed = await m.api.deploy(release=release, host=open_host)
        assert deployed.status is DeploymentStatus.STARTING
        with pytest.raises(arkitekt.NotFoundError):
            await m.api.deploy(release=release, host=own_host)
        assert {h.id for h in await m.api.hosts()} == {open_host}
    async with arkitekt.connect(server.url, outsider) as x:
        mine = await publish(x, unique("app"))
        with pytest.raises(arkitekt.NotFoundError):
            await x.api.deploy(release=mine, host=open_host)
        with pytest.raises(arkitekt.NotFoundError):  # another team's release
            await x.api.deploy(release=release, host=open_host)
        assert await x.api.hosts() == []
        assert await x.api.deployments() == []


async def test_a_version_is_published_once_and_checked(client: arkitekt.Client) -> None:
    app = unique("app")
    await publish(client, app)
    with pytest.raises(arkitekt.ConflictError, match="published already"):
        await publish(client, app)
    storage = storage_of(client)
    blob = await storage.create()
    await storage.put(blob, "bundle.tar.gz", b"x")
    with pytest.raises(arkitekt.InvalidInputError, match="entry"):
        await client.api.publish_release(
            input=ReleaseInput(
                app=app,
                version="2.0",
                entry="../escape.py",
                requirements=[],
                blob=blob,
                digest="a" * 64,
                functions=[],
            )
        )
    (release, *_) = await client.api.releases(app=app)
    assert (release.version, release.requirements) == ("1.0", ["tomli-w>=1"])


async def test_a_host_hears_its_deployments_and_its_reports_tell_everyone(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    host, token = await host_of(client, server.url)
    app = unique("app")
    first, second = await publish(client, app, "1.0"), await publish(client, app, "2.0")
    async with arkitekt.connect(server.url, token) as hosting:
        work = hosting.api.watch_host(host=host)
        assert (await anext(work)).deployments == []
        deployment = await client.api.deploy(release=first, host=host)
        (heard,) = (await anext(work)).deployments
        assert (heard.id, heard.release.id) == (deployment.id, first)

        secret = await hosting.api.deployment_token(deployment=deployment.id)
        async with arkitekt.connect(server.url, secret) as app_client:
            me = await app_client.api.me()
            assert me.name == (await client.api.me()).name  # the deployer's, AGENT only
            (made,) = [t for t in await client.api.tokens() if t.name.startswith(app)]
            assert made.scopes == [Scope.AGENT]

        await hosting.api.report_deployment(
            deployment=deployment.id, release=first, status=DeploymentStatus.RUNNING, logs=["up"]
        )
        upgraded = await client.api.deploy(release=second, host=host)
        assert upgraded.id == deployment.id
        (heard,) = (await anext(work)).deployments
        assert heard.release.id == second
        # A late report about the old release changes nothing but the logs.
        await hosting.api.report_deployment(
            deployment=deployment.id, release=first, status=DeploymentStatus.CRASHED, logs=["old"]
        )
        found = await client.api.get_deployment(id=deployment.id)
        assert found is not None
        assert found.status is DeploymentStatus.RUNNING
        assert [entry.line for entry in found.logs] == ["up", "old"]

        await client.api.undeploy(deployment=deployment.id)
        (heard,) = (await anext(work)).deployments
        assert heard.status is DeploymentStatus.STOPPING
        await hosting.api.report_deployment(
            deployment=deployment.id, release=second, status=DeploymentStatus.STOPPED
        )
        # Stopped: its app's tokens are revoked.
        answer = await post(server.url, secret, "{ me { id } }")
        assert codes(answer) == ["UNAUTHENTICATED"]
        with pytest.raises(arkitekt.ConflictError):
            await hosting.api.deployment_token(deployment=deployment.id)
        await work.aclose()


async def test_a_stopped_apps_token_is_retired_and_the_others_keep_working(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    host, token = await host_of(client, server.url)
    deployment = await client.api.deploy(release=await publish(client, unique("app")), host=host)
    async with arkitekt.connect(server.url, token) as hosting:
        old = await hosting.api.deployment_token(deployment=deployment.id)
        new = await hosting.api.deployment_token(deployment=deployment.id)  # an upgrade's app
        assert await hosting.api.retire_deployment_token(deployment=deployment.id, token=old)
        assert codes(await post(server.url, old, "{ me { id } }")) == ["UNAUTHENTICATED"]
        assert codes(await post(server.url, new, "{ me { id } }")) == []
        # Once is enough; and only a deployment's own tokens are retired through it.
        assert not await hosting.api.retire_deployment_token(deployment=deployment.id, token=old)
        assert not await hosting.api.retire_deployment_token(
            deployment=deployment.id, token=server.token
        )
    assert codes(await post(server.url, server.token, "{ me { id } }")) == []
    _, outsider = await add_user(client, unique("outsider"), scopes=ALL)
    async with arkitekt.connect(server.url, outsider) as theirs:
        _, their_host = await host_of(theirs, server.url)
    async with arkitekt.connect(server.url, their_host) as elsewhere:
        with pytest.raises(arkitekt.NotFoundError):
            await elsewhere.api.retire_deployment_token(deployment=deployment.id, token=new)
    assert codes(await post(server.url, new, "{ me { id } }")) == []


async def test_a_deployment_on_a_host_gone_for_good_is_stopped_by_force(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    host, token = await host_of(client, server.url)
    release = await publish(client, unique("app"))
    deployment = await client.api.deploy(release=release, host=host)
    async with arkitekt.connect(server.url, token) as hosting:
        secret = await hosting.api.deployment_token(deployment=deployment.id)
    # The host is gone: a plain undeploy waits for its word for ever.
    stopping = await client.api.undeploy(deployment=deployment.id)
    assert stopping.status is DeploymentStatus.STOPPING
    assert codes(await post(server.url, secret, "{ me { id } }")) == []  # the app may still run

    env = {**os.environ, "ARKITEKT_URL": server.url, "ARKITEKT_TOKEN": server.token}
    done = await asyncio.to_thread(run, "undeploy", deployment.id, "--force", env=env)
    assert done.returncode == 0, done.stderr
    assert "(stopped)" in done.stdout
    found = await client.api.get_deployment(id=deployment.id)
    assert found is not None
    assert found.status is DeploymentStatus.STOPPED
    assert found.message is not None
    assert "--force" in found.message
    # Its app can do nothing more, and a host that comes back runs nothing.
    assert codes(await post(server.url, secret, "{ me { id } }")) == ["UNAUTHENTICATED"]
    async with arkitekt.connect(server.url, token) as back:
        work = back.api.watch_host(host=host)
        assert (await anext(work)).deployments == []
        await work.aclose()
        with pytest.raises(arkitekt.ConflictError):
            await back.api.deployment_token(deployment=deployment.id)
    # Forcing it again changes nothing.
    again = await client.api.undeploy(deployment=deployment.id, force=True)
    assert (again.status, again.message) == (DeploymentStatus.STOPPED, found.message)


async def test_a_newer_connection_of_a_host_takes_over(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    host, token = await host_of(client, server.url)
    async with (
        arkitekt.connect(server.url, token) as older,
        arkitekt.connect(server.url, token) as newer,
    ):
        first = older.api.watch_host(host=host)
        assert (await anext(first)).epoch >= 1
        second = newer.api.watch_host(host=host)
        lease = (await anext(second)).epoch
        with pytest.raises(StopAsyncIteration):
            await anext(first)
        (found,) = [h for h in await client.api.hosts() if h.id == host]
        assert found.status.value == "CONNECTED"
        assert lease > 1
        await second.aclose()


async def test_a_deploy_through_one_replica_reaches_a_host_on_another(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if "postgresql" not in backends():
        pytest.skip("replicas share a PostgreSQL database, which is not installed")
    database = request.getfixturevalue("postgres_cluster").create_database()
    with (
        running_server(tmp_path / "a", database_url=database) as a,
        running_server(tmp_path / "b", database_url=database) as b,
    ):
        async with arkitekt.connect(a.url, a.token) as admin:
            host, token = await host_of(admin, a.url)
            release = await publish(admin, unique("app"))
            async with (
                arkitekt.connect(b.url, token) as on_b,
                arkitekt.connect(a.url, token) as on_a,
                arkitekt.connect(b.url, b.token) as watcher,
            ):
                work = on_b.api.watch_host(host=host)
                assert (await anext(work)).deployments == []
                deployment = await admin.api.deploy(release=release, host=host)  # through A
                async with asyncio.timeout(10):
                    (heard,) = (await anext(work)).deployments  # on B
                assert heard.id == deployment.id
                watching = watcher.api.watch_deployments()
                seen = await anext(watching)  # first what runs now
                assert (seen.id, seen.status) == (deployment.id, DeploymentStatus.STARTING)
                await on_a.api.report_deployment(  # through A, seen on B
                    deployment=deployment.id, release=release, status=DeploymentStatus.RUNNING
                )
                async with asyncio.timeout(10):
                    seen = await anext(watching)
                assert seen.status is DeploymentStatus.RUNNING
                await work.aclose()
                await watching.aclose()
