"""Tokens: missing, malformed, expired and revoked ones are refused over HTTP and websocket,
revocation closes open websockets on every replica, and scopes bound what a token does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

import arkitekt
from arkitekt.api.enums import Role, Scope
from arkitekt.api.input_types import AgentInput
from arkitekt.testing import RunningPlatform, running_server
from tests import postgres
from tests.accounts import add_team, add_user, unique
from tests.conftest import backends

from .raw import codes, post

ME = "{ me { name } }"


@asynccontextmanager
async def websocket(
    url: str, payload: object = None
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A graphql-transport-ws socket that sent connection_init with `payload`."""
    async with aiohttp.ClientSession() as session:
        ws_url = url.replace("http", "ws", 1) + "/graphql"
        async with session.ws_connect(ws_url, protocols=["graphql-transport-ws"]) as ws:
            init: dict[str, object] = {"type": "connection_init"}
            if payload is not None:
                init["payload"] = payload
            await ws.send_json(init)
            yield ws


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused_over_websocket(url: str, payload: object) -> str:
    """The reason a websocket closed with 4403 right after connection_init."""
    async with websocket(url, payload) as ws:
        message = await ws.receive(timeout=10)
        assert message.type is aiohttp.WSMsgType.CLOSE, message
        assert ws.close_code == 4403
        return str(message.extra)


async def ready(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Waits until the socket is acknowledged and has answered an operation."""
    assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
    await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": ME}})
    assert (await ws.receive_json(timeout=10))["type"] == "next"


async def closed(ws: aiohttp.ClientWebSocketResponse) -> str:
    """Waits for the server to close the socket with 4403; returns the reason."""
    while True:
        message = await ws.receive(timeout=10)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            assert ws.close_code == 4403
            return str(message.extra)


async def test_missing_and_malformed_tokens_are_refused(server: RunningPlatform) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic YWxpY2U6eA=="}):
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{server.url}/graphql", json={"query": ME}, headers=headers) as answer,
        ):
            assert answer.status == 401
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            assert codes(await answer.json()) == ["UNAUTHENTICATED"]
    for payload in (None, {}, {"Authorization": 42}, ["Bearer x"], {"Authorization": "ark_x"}):
        reason = await refused_over_websocket(server.url, payload)
        assert "token" in reason.lower() or "authorization" in reason.lower()


async def test_tokens_in_a_url_are_ignored(server: RunningPlatform) -> None:
    """A token never travels in a URL (logs and proxies keep URLs): one there counts
    for nothing."""
    for name in ("token", "access_token", "Authorization"):
        query = {name: server.token}
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{server.url}/graphql", json={"query": ME}, params=query
            ) as answer:
                assert answer.status == 401
            async with session.get(f"{server.url}/blobs/{'0' * 32}", params=query) as answer:
                assert answer.status == 401
            ws_url = server.url.replace("http", "ws", 1) + f"/graphql?{name}={server.token}"
            async with session.ws_connect(ws_url, protocols=["graphql-transport-ws"]) as ws:
                await ws.send_json({"type": "connection_init"})
                await ws.receive(timeout=10)
                assert ws.close_code == 4403


async def test_a_revoked_token_stops_at_once_and_its_websockets_close(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    name, token = await add_user(client, "revoked")
    assert (await post(server.url, token, ME))["status"] == 200
    (listed,) = await client.api.tokens(user=name)
    async with (
        websocket(server.url, bearer(token)) as ws,
        websocket(server.url, bearer(token)) as another,
    ):
        await ready(ws)
        await ready(another)
        await client.api.revoke_token(id=listed.id)
        assert "revoked" in await closed(ws)
        assert "revoked" in await closed(another)
    answer = await post(server.url, token, ME)
    assert (answer["status"], codes(answer)) == (401, ["UNAUTHENTICATED"])
    assert "revoked" in await refused_over_websocket(server.url, bearer(token))


async def test_an_expired_token_closes_its_websocket_and_is_refused(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    _, token = await add_user(client, "expiring", expires_at=soon)
    async with websocket(server.url, bearer(token)) as ws:
        await ready(ws)
        assert "expired" in await closed(ws)  # at the expiry, not later
    assert datetime.now(UTC) >= soon
    answer = await post(server.url, token, ME)
    assert (answer["status"], codes(answer)) == (401, ["UNAUTHENTICATED"])
    assert "expired" in answer["errors"][0]["message"]
    assert "expired" in await refused_over_websocket(server.url, bearer(token))


async def test_scopes_bound_what_a_token_does(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    node = (await client.api.create_node(input=arkitekt.node_of(unique_function).to_input())).id
    _, caller = await add_user(client, "caller", scopes=[Scope.CALL])
    _, server_only = await add_user(client, "agent", scopes=[Scope.AGENT])
    agent = AgentInput(name="scoped", instance=unique("scoped"), implementations=[])
    async with arkitekt.connect(server.url, caller) as calling:
        with pytest.raises(arkitekt.PermissionDeniedError, match="agent scope"):
            await calling.api.register_agent(input=agent)
        with pytest.raises(arkitekt.PermissionDeniedError, match="admin scope"):
            await calling.api.create_token(name="more")
        assert await calling.api.nodes() == []  # reading needs no scope
    async with arkitekt.connect(server.url, server_only) as serving_only:
        registered = await serving_only.api.register_agent(input=agent)
        with pytest.raises(arkitekt.PermissionDeniedError, match="call scope"):
            await serving_only.api.assign(node=node, args={})
        with pytest.raises(arkitekt.PermissionDeniedError, match="call scope"):
            await anext(serving_only.api.call(node=node, args={}))
        work = serving_only.api.watch_assignations(agent=registered.id)
        assert (await anext(work))[0].epoch
        await work.aclose()
    _, admin_only = await add_user(client, "manager", scopes=[Scope.ADMIN])
    headers = bearer(admin_only)
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(f"{server.url}/blobs") as answer,
    ):
        assert answer.status == 403


def unique_function(x: int) -> int:
    return x


async def test_a_token_never_mints_a_stronger_one(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    until = datetime.now(UTC) + timedelta(hours=1)
    name, token = await add_user(
        client, "delegate", scopes=[Scope.ADMIN, Scope.CALL], expires_at=until
    )
    async with arkitekt.connect(server.url, token) as delegate:
        with pytest.raises(arkitekt.PermissionDeniedError, match="may not grant AGENT"):
            await delegate.api.create_token(name="agent", scopes=[Scope.AGENT])
        with pytest.raises(arkitekt.InvalidInputError, match="expiresAt"):
            await delegate.api.create_token(name="later", expires_at=until + timedelta(days=1))
        child = await delegate.api.create_token(name="child", scopes=[Scope.CALL])
        assert child.token.expires_at is not None
        assert abs(child.token.expires_at - until) < timedelta(seconds=1)  # the parent's
        assert child.token.scopes == [Scope.CALL]
        assert child.secret.startswith("ark_")
        with pytest.raises(arkitekt.PermissionDeniedError, match="platform's admins"):
            await delegate.api.create_user(name=unique("x"))
        with pytest.raises(arkitekt.PermissionDeniedError, match="platform's admins"):
            await delegate.api.create_token(name="theirs", user="admin")
        mine = await delegate.api.tokens()
        assert {t.name for t in mine} == {"test", "child"}
        await delegate.api.revoke_token(id=child.token.id)
        assert {t.name for t in await delegate.api.tokens()} == {"test"}
        assert {t.name for t in await delegate.api.tokens(all=True)} == {"test", "child"}
        with pytest.raises(arkitekt.NotFoundError):
            await delegate.api.revoke_token(id=(await client.api.tokens())[0].id)
    assert name.startswith("delegate-")


async def test_team_admins_manage_their_own_team_only(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    team, other = await add_team(client), await add_team(client)
    _, lead = await add_user(client, "lead", teams=[other], admin_of=[team], scopes=[Scope.ADMIN])
    newcomer, _ = await add_user(client, "newcomer")
    async with arkitekt.connect(server.url, lead) as manager:
        added = await manager.api.add_member(team=team, user=newcomer)
        assert (added.team.name, added.user.name, added.role) == (team, newcomer, Role.MEMBER)
        with pytest.raises(arkitekt.PermissionDeniedError, match="Only the admins"):
            await manager.api.add_member(team=other, user=newcomer)
        with pytest.raises(arkitekt.NotFoundError, match="No team with name"):
            await manager.api.add_member(team=unique("nope"), user=newcomer)
        removed = await manager.api.remove_member(team=team, user=newcomer)
        assert newcomer not in {m.user.name for m in removed.members}
        with pytest.raises(arkitekt.PermissionDeniedError):
            await manager.api.users()
    with pytest.raises(arkitekt.ConflictError, match="exists already"):
        await client.api.create_team(name=team)
    with pytest.raises(arkitekt.InvalidInputError, match="is not a name"):
        await client.api.create_user(name=" spaced ")


@pytest.mark.skipif("postgresql" not in backends(), reason="replicas need PostgreSQL")
async def test_revocation_reaches_every_replica(
    postgres_cluster: postgres.Cluster, tmp_path: Path
) -> None:
    database = postgres_cluster.create_database()
    with (
        running_server(tmp_path / "a", database_url=database) as a,
        running_server(tmp_path / "b", database_url=database) as b,
    ):
        async with arkitekt.connect(a.url, a.token) as admin:
            name, token = await add_user(admin, "roaming")
            assert (await post(b.url, token, ME))["status"] == 200  # B remembers the grant
            async with websocket(b.url, bearer(token)) as ws:
                await ready(ws)
                (listed,) = await admin.api.tokens(user=name)
                await admin.api.revoke_token(id=listed.id)  # on A
                assert "revoked" in await closed(ws)  # closed by B
        assert (await post(b.url, token, ME))["status"] == 401
