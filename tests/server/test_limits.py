"""Hostile requests are refused quickly with a clear error, and the server keeps serving
everyone else meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from graphql import DocumentNode, FragmentDefinitionNode, OperationDefinitionNode, parse

import arkitekt
from arkitekt.server.limits import Limits
from arkitekt.testing import RunningPlatform, running_server, serving
from arkitekt.transport import Transport

from .raw import codes, post

ROOT = Path(__file__).parents[2]
QUICKLY = 2.0  # seconds: generous on a loaded two-core machine; most take milliseconds


def hostile_documents() -> dict[str, tuple[str, str]]:
    """name -> (document, the code it must be refused with)."""
    deep = "id"
    for _ in range(10):
        deep = f"implementations {{ node {{ {deep} }} }}"
    fragments = "".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    return {
        "deep nesting": ("{ nodes { " + deep + " } }", "LIMIT_EXCEEDED"),
        "nesting beyond the parser": ("{" + "a{" * 5000 + "b" + "}" * 5001, "LIMIT_EXCEEDED"),
        "alias flood": (
            "{ " + " ".join(f"a{i}: nodes {{ id }}" for i in range(500)) + " }",
            "LIMIT_EXCEEDED",
        ),
        "field flood": ("{ nodes { " + "args { key } " * 800 + "} }", "LIMIT_EXCEEDED"),
        "fragment bomb": (
            fragments + "fragment F40 on Query { me { id } } { ...F0 }",
            "LIMIT_EXCEEDED",
        ),
        "fragment cycle": (
            "fragment A on Query { ...B } fragment B on Query { ...A } { ...A }",
            "INVALID_INPUT",
        ),
        "huge string": ('{ nodes(search: "' + "x" * 200_000 + '") { id } }', "LIMIT_EXCEEDED"),
        "token flood": (
            "{ nodes(search: " + "[" + ",".join(["1"] * 20_000) + "]) { id } }",
            "LIMIT_EXCEEDED",
        ),
    }


@pytest.mark.parametrize("name", list(hostile_documents()))
async def test_hostile_documents_are_refused_quickly(server: RunningPlatform, name: str) -> None:
    document, code = hostile_documents()[name]
    started = time.perf_counter()
    answer = await post(server.url, server.token, document)
    assert time.perf_counter() - started < QUICKLY
    assert set(codes(answer)) == {code}, answer
    assert answer["errors"][0]["message"]


async def test_the_server_keeps_serving_others_during_an_attack(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    def shield(x: int) -> int:
        return x

    attack = [document for document, _ in hostile_documents().values()]

    async def attacker() -> None:
        for _ in range(3):
            for document in attack:
                assert "errors" in await post(server.url, server.token, document)

    async with serving(client, shield):
        attackers = [asyncio.create_task(attacker()) for _ in range(4)]
        served = 0
        while not all(task.done() for task in attackers):
            started = time.perf_counter()
            assert await client.call(shield, served) == served
            assert time.perf_counter() - started < QUICKLY
            served += 1
        await asyncio.gather(*attackers)
    assert served > 0


async def test_big_and_malformed_bodies_are_refused(server: RunningPlatform) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    url = f"{server.url}/graphql"
    deep = '{"query": "{ me { id } }", "variables": {"v": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"data": deep, "headers": {"Content-Type": "application/json"}}, 400, "INVALID_INPUT"),
        (
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "INVALID_INPUT",
        ),
        (
            {
                "data": b"query=%7Bme%7Bid%7D%7D",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            415,
            "INVALID_INPUT",
        ),
    ]
    nested = {
        "query": "query($v: JSON) { me { id } }",
        "variables": {"v": json.loads("[" * 200 + "]" * 200)},
    }
    cases.append(({"json": nested}, 413, "LIMIT_EXCEEDED"))
    async with aiohttp.ClientSession(headers=headers) as session:
        for options, status, code in cases:
            async with session.post(url, **options) as answer:
                assert answer.status == status, (status, await answer.text())
                assert codes(await answer.json()) == [code]


async def test_websocket_abuse_is_refused(server: RunningPlatform) -> None:
    async with aiohttp.ClientSession() as session:
        ws_url = server.url.replace("http", "ws", 1) + "/graphql"

        async def opened() -> aiohttp.ClientWebSocketResponse:
            ws = await session.ws_connect(ws_url, protocols=["graphql-transport-ws"])
            await ws.send_json(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {server.token}"}}
            )
            assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
            return ws

        for frame, code in (
            ("{not json", 4400),
            ('["a list"]', 4400),
            ('{"type": "subscribe"}', 4400),
        ):
            ws = await opened()
            await ws.send_str(frame)
            await ws.receive(timeout=10)
            assert ws.close_code == code, frame
        ws = await opened()
        await ws.send_bytes(b"\x00binary")
        await ws.receive(timeout=10)
        assert ws.close_code == 4400
        ws = await opened()
        await ws.send_json({"id": "1", "type": "subscribe", "payload": "not an object"})
        refused = await ws.receive_json(timeout=10)
        assert (refused["type"], codes(refused)) == ("error", ["INVALID_INPUT"])
        await ws.close()


async def test_requests_and_messages_are_bounded_in_size(tmp_path: Path) -> None:
    with running_server(tmp_path, limits=Limits(request_size=50_000)) as platform:
        headers = {"Authorization": f"Bearer {platform.token}"}
        big = {"query": "query($s: String) { nodes(search: $s) { id } }", "variables": {}}
        big["variables"] = {"s": "x" * 60_000}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.post(f"{platform.url}/graphql", json=big) as answer:
                assert answer.status == 413
                assert codes(await answer.json()) == ["LIMIT_EXCEEDED"]
            ws_url = platform.url.replace("http", "ws", 1) + "/graphql"
            async with session.ws_connect(ws_url, protocols=["graphql-transport-ws"]) as ws:
                await ws.send_json({"type": "connection_init", "payload": headers})
                assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
                await ws.send_json({"id": "1", "type": "subscribe", "payload": big})
                await ws.receive(timeout=10)
                assert ws.close_code == 1009  # message too big
            big["variables"] = {"s": "x" * 10_000}
            async with session.post(f"{platform.url}/graphql", json=big) as answer:
                assert (await answer.json())["data"] == {"nodes": []}


async def test_a_message_too_big_fails_in_the_sdk_as_a_lost_connection(tmp_path: Path) -> None:
    with running_server(tmp_path, limits=Limits(request_size=50_000)) as platform:
        transport = Transport(platform.url, platform.token)
        query = "subscription($s: String) { watchAgents { id } }"
        try:
            with pytest.raises(arkitekt.ServerUnavailableError):
                async for _ in transport.subscribe(query, None, {"s": "x" * 20_000_000}):
                    pass
            transport.mutations_on_socket = True  # the next operation opens a new socket
            assert await transport.execute("{ nodes { id } }", None, {}) == {"nodes": []}
        finally:
            await transport.close()


async def test_a_connection_runs_a_bounded_number_of_operations(tmp_path: Path) -> None:
    with running_server(tmp_path, limits=Limits(operations=3)) as platform:
        async with aiohttp.ClientSession() as session:
            ws_url = platform.url.replace("http", "ws", 1) + "/graphql"
            async with session.ws_connect(ws_url, protocols=["graphql-transport-ws"]) as ws:
                auth = {"Authorization": f"Bearer {platform.token}"}
                await ws.send_json({"type": "connection_init", "payload": auth})
                assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
                watch = {"query": "subscription { watchAgents { id } }"}
                for i in range(4):
                    await ws.send_json({"id": str(i), "type": "subscribe", "payload": watch})
                refused = await ws.receive_json(timeout=10)
                assert (refused["id"], codes(refused)) == ("3", ["LIMIT_EXCEEDED"])
                await ws.send_json({"id": "0", "type": "complete"})
                await ws.send_json(
                    {"id": "4", "type": "subscribe", "payload": {"query": "{ me { name } }"}}
                )
                answer = await ws.receive_json(timeout=10)
                assert answer["payload"]["data"]["me"]["name"] == "admin"


def operations() -> list[DocumentNode]:
    """Every operation the SDK sends, each with the fragments it may use."""
    text = "\n".join(path.read_text() for path in sorted((ROOT / "graphql").glob("*.graphql")))
    document = parse(text)
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    return [
        DocumentNode(definitions=(definition, *fragments))
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]


def test_the_sdks_own_operations_are_well_within_the_limits() -> None:
    from arkitekt.server.limits import Limits, check, measure

    limits = Limits()
    for document in operations():
        assert check(document, limits) == []
        found = measure(document, limits)
        assert found.cost * 2 <= limits.cost
        assert found.depth + 3 <= limits.depth
