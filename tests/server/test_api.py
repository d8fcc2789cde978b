"""The generated API against a real server: nodes, agents, reservations, errors, auth."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import aiohttp
import annotated_types as at
import pytest

import arkitekt
from arkitekt import api, widgets
from arkitekt.api.enums import (
    AgentStatus,
    NodeKind,
    PortKind,
    ReservationStatus,
    Strategy,
    WidgetKind,
)
from arkitekt.api.input_types import (
    AgentInput,
    ImplementationInput,
    NodeInput,
    PortInput,
    WidgetInput,
)
from arkitekt.testing import RunningPlatform, serving


def square(x: float) -> float:
    """Square a number."""
    return x * x


def hinted_square(
    x: Annotated[float, at.Ge(0), at.Le(10), widgets.slider(step=0.5)],
    note: Annotated[str, widgets.paragraph(rows=4)] = "",
) -> float:
    return x * x


def node_input(name: str = "api_square", *, description: str | None = None) -> NodeInput:
    return NodeInput(
        name=name,
        kind=NodeKind.FUNCTION,
        description=description,
        args=[PortInput(key="x", kind=PortKind.FLOAT, nullable=False)],
        returns=[PortInput(key="return0", kind=PortKind.FLOAT, nullable=False)],
    )


async def test_create_node_is_idempotent_on_the_definition(client: arkitekt.Client) -> None:
    first = await api.create_node(input=node_input())
    second = await api.create_node(input=node_input())
    assert first.id == second.id
    assert first.hash == second.hash
    other = await api.create_node(input=node_input(description="changed"))
    assert other.id != first.id


async def test_server_and_sdk_compute_the_same_hash(client: arkitekt.Client) -> None:
    local = arkitekt.node_of(square)
    stored = await client.api.create_node(input=local.to_input())
    assert stored.hash == local.hash
    assert arkitekt.Node.from_data(stored.model_dump()).hash == local.hash
    found = await client.api.get_node(hash=local.hash)
    assert found is not None
    assert found.id == stored.id


async def test_malformed_definitions_are_refused_with_the_field(client: arkitekt.Client) -> None:
    bad = node_input()
    bad.args = [PortInput(key="x", kind=PortKind.LIST, nullable=False)]
    with pytest.raises(arkitekt.InvalidInputError, match=r"input.args\[x\].children"):
        await client.api.create_node(input=bad)
    duplicate = node_input()
    duplicate.args = duplicate.args * 2
    with pytest.raises(arkitekt.InvalidInputError, match="duplicate keys x"):
        await client.api.create_node(input=duplicate)
    for widget, field, message in [
        (WidgetInput(kind=WidgetKind.COLOR), "widget", "a COLOR widget does not fit a FLOAT port"),
        (WidgetInput(kind=WidgetKind.SLIDER, step=0), "widget.step", "must be positive"),
    ]:
        hinted = node_input()
        hinted.args[0].widget = widget
        with pytest.raises(arkitekt.InvalidInputError, match=message) as refused:
            await client.api.create_node(input=hinted)
        assert refused.value.extensions["field"] == f"input.args[x].{field}"


async def test_widgets_are_stored_with_the_node(client: arkitekt.Client) -> None:
    local = arkitekt.node_of(hinted_square)
    stored = await client.api.create_node(input=local.to_input())
    assert stored.hash == local.hash
    assert arkitekt.Node.from_data(stored.model_dump()).args == local.args


async def test_enum_variables_are_accepted(client: arkitekt.Client) -> None:
    """Guards the graphql-core pin: 3.2.14 breaks enum values sent as variables."""
    node = await client.api.create_node(input=node_input())
    reservation = await client.api.reserve(node=node.id, strategy=Strategy.LEAST_BUSY)
    assert reservation.strategy is Strategy.LEAST_BUSY
    assert await client.api.agents(status=AgentStatus.CONNECTED) is not None


async def test_unknown_ids_are_not_found(client: arkitekt.Client) -> None:
    assert await client.api.get_node(id="0" * 32) is None
    with pytest.raises(arkitekt.NotFoundError):
        await client.api.assign(node="0" * 32, args={})
    with pytest.raises(arkitekt.NotFoundError):
        await client.api.cancel(assignation="0" * 32)


async def test_registration_is_a_diff(client: arkitekt.Client) -> None:
    def first() -> int:
        return 1

    def changed(x: int) -> int:
        return x

    def implementation(node: arkitekt.Node, interface: str = "fn") -> ImplementationInput:
        return ImplementationInput(interface=interface, node=node.to_input())

    one = arkitekt.node_of(first, name="fn")
    agent_input = AgentInput(name="diff", instance="diff-1", implementations=[implementation(one)])
    registered = await client.api.register_agent(input=agent_input)
    again = await client.api.register_agent(input=agent_input)
    assert again.model_dump() == registered.model_dump()

    two = arkitekt.node_of(changed, name="fn")
    agent_input.implementations = [implementation(two)]
    updated = await client.api.register_agent(input=agent_input)
    assert [i.node.hash for i in updated.implementations] == [two.hash]
    assert updated.implementations[0].id != registered.implementations[0].id


async def test_reservation_status_follows_agents(client: arkitekt.Client) -> None:
    def reserved_only(x: int) -> int:
        return x

    async with serving(client, reserved_only):
        node = await client.node(reserved_only)
    reservation = await client.reserve(reserved_only, min_instances=1)
    assert reservation.status is ReservationStatus.WAITING
    updates = reservation.watch()
    assert (await anext(updates)).status is ReservationStatus.WAITING
    async with serving(client, reserved_only):
        assert (await anext(updates)).status is ReservationStatus.ACTIVE
        assert await reservation.call(x=3) == 3
    assert (await anext(updates)).status is ReservationStatus.WAITING
    await updates.aclose()
    await reservation.unreserve()
    assert reservation.status is ReservationStatus.ENDED
    with pytest.raises(arkitekt.ConflictError, match="has ended"):
        await reservation.call(x=1)
    assert node.id == reservation.node.id


async def test_operations_run_on_the_current_client(server: RunningPlatform) -> None:
    with pytest.raises(arkitekt.ConfigurationError, match="No arkitekt client is active"):
        await api.me()
    async with arkitekt.connect(server.url, server.token):
        me = await api.me()
    assert me.name == "admin"


async def test_http_without_a_valid_token_is_refused(server: RunningPlatform) -> None:
    body = {"query": "{ me { id } }"}
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer ark_wrong"}, {"Authorization": "Basic x"}):
            async with session.post(
                f"{server.url}/graphql", json=body, headers=headers
            ) as response:
                assert response.status == 401
                payload = await response.json()
                assert payload["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with arkitekt.connect(server.url, "ark_wrong") as client:
        with pytest.raises(arkitekt.AuthenticationError):
            await client.api.me()


async def test_websocket_with_a_bad_token_closes_with_4403(server: RunningPlatform) -> None:
    async with aiohttp.ClientSession() as session:
        ws_url = server.url.replace("http", "ws") + "/graphql"
        async with session.ws_connect(ws_url, protocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"Authorization": "Bearer no"}}
            )
            message = await ws.receive(timeout=5)
            assert message.type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 4403
    async with arkitekt.connect(server.url, "ark_wrong") as client:
        with pytest.raises(arkitekt.AuthenticationError):
            await anext(client.api.watch_agents())


async def test_websocket_without_connection_init_times_out_with_4408(
    server: RunningPlatform,
) -> None:
    async with aiohttp.ClientSession() as session:
        ws_url = server.url.replace("http", "ws") + "/graphql"
        async with session.ws_connect(ws_url, protocols=["graphql-transport-ws"]) as ws:
            message = await ws.receive(timeout=10)
            assert message.type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 4408


async def test_invalid_documents_carry_a_code(server: RunningPlatform) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for query in ("{ nope }", "{ me { id ", "mutation { createNode(input: 3) { id } }"):
            async with session.post(f"{server.url}/graphql", json={"query": query}) as response:
                payload = json.loads(await response.text())
                assert payload["errors"][0]["extensions"]["code"] == "INVALID_INPUT", query


async def test_errors_name_the_kind_of_thing_missing_and_the_field_refused(
    client: arkitekt.Client,
) -> None:
    missing = "f" * 32
    for lookup, kind in [
        (client.api.cancel(assignation=missing), "assignation"),
        (client.api.unreserve(reservation=missing), "reservation"),
        (client.api.revoke_token(id=missing), "token"),
        (client.storage.objects(missing), "blob"),
    ]:
        with pytest.raises(arkitekt.NotFoundError) as found:
            await lookup
        assert found.value.extensions["kind"] == kind, found.value
    past = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(arkitekt.InvalidInputError) as refused:
        await client.api.create_token(name="old", expires_at=past)
    assert refused.value.extensions["field"] == "expiresAt"


def cube(x: float) -> float:
    return x**3


async def test_assignations_page_by_function_and_age(client: arkitekt.Client) -> None:
    async with serving(client, square, cube):
        made = [await client.assign(square if i % 2 else cube, i) for i in range(7)]
        for assignation in made:
            await assignation.result()
    squares = [a.id for a in reversed(made[1::2])]  # newest first
    first = await client.api.assignations(node="square", limit=2)
    assert [a.id for a in first] == squares[:2]
    rest = await client.api.assignations(node="square", before=first[-1].id, limit=10)
    assert [a.id for a in rest] == squares[2:]
    assert {a.node.name for a in await client.api.assignations(node="cube")} == {"cube"}
    with pytest.raises(arkitekt.NotFoundError) as missing:
        await client.api.assignations(before="f" * 32)
    assert missing.value.extensions["kind"] == "assignation"


async def test_concurrent_writes_from_many_callers(client: arkitekt.Client) -> None:
    """The group-committing writer keeps every acknowledged write, in any interleaving."""
    nodes = await asyncio.gather(
        *(client.api.create_node(input=node_input(f"concurrent_{i % 7}")) for i in range(60))
    )
    by_name: dict[str, set[str]] = {}
    for node in nodes:
        by_name.setdefault(node.name, set()).add(node.id)
    assert all(len(ids) == 1 for ids in by_name.values())
    assert len(by_name) == 7
