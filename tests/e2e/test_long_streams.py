"""Long streams and slow readers: the server holds a bounded part of a stream, whatever its
length and however slowly its followers read, and every follower still gets every event,
in order, once."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

import arkitekt
from arkitekt.api.enums import AssignationEventKind
from arkitekt.runtime import caller
from arkitekt.server.resolvers import assignations
from arkitekt.testing import RunningPlatform, running_server, serving
from tests.server.raw import post

WATCH = """
subscription ($assignation: ID!) {
  watchAssignationEvents(assignation: $assignation) { sequence kind yields }
}
"""


async def chatty(lines: int) -> int:
    for line in range(lines):
        arkitekt.log(f"line {line} " + "." * 2_000)
    return lines


async def test_a_long_stream_leaves_the_journal_and_resumes_from_the_database(
    client: arkitekt.Client, server: RunningPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assignations, "EVENT_PAGE", 50)
    journal = server._platform.journal  # the embedded server runs in this process
    async with serving(client, chatty):
        assignation = await client.assign(chatty, lines=600)
        everything = [event async for event in assignation.events()]
        later = [event async for event in assignation.events(after=123)]

    logs = [event.message for event in everything if event.kind is AssignationEventKind.LOG]
    assert logs == [f"line {line} " + "." * 2_000 for line in range(600)]
    assert [event.sequence for event in everything] == list(range(1, len(everything) + 1))
    assert later == everything[123:], "resumed over many pages, without gap or duplicate"
    assert journal.get(assignation.id) is None, "a long stream is read from the database"
    assert journal.held <= journal.budget


EVENTS = """
query ($id: ID!, $after: Int!, $limit: Int!) {
  assignation(id: $id) { events(after: $after, limit: $limit) { sequence } }
}
"""


async def test_a_query_pages_through_an_assignations_events(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    async with serving(client, chatty):
        assignation = await client.assign(chatty, lines=1_100)
        await assignation.result()

    async def sequences(after: int, limit: int) -> list[int]:
        variables = {"id": assignation.id, "after": after, "limit": limit}
        answer = await post(server.url, server.token, EVENTS, **variables)
        return [event["sequence"] for event in answer["data"]["assignation"]["events"]]

    first, rest = await sequences(0, 1_000), await sequences(1_000, 1_000)
    assert first == list(range(1, 1_001))
    assert rest == list(range(1_001, rest[-1] + 1))
    assert rest[-1] > 1_100, "the rest, to the end"
    assert await sequences(5, 0) == [6], "a limit below 1 reads one"


async def counted(n: int) -> AsyncIterator[int]:
    for i in range(n):
        arkitekt.log(f"before {i}")
        yield i


THE_END = """
query ($id: ID!, $last: Int!, $through: Int!) {
  assignation(id: $id) {
    sequence
    events(last: $last) { sequence kind yields }
    yieldCount
    before: yieldCount(through: $through)
  }
}
"""


async def test_a_query_reads_the_end_of_a_long_stream_and_where_it_stands(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    async with serving(client, counted):
        assignation = await client.assign(counted, n=3_000)
        everything = [event async for event in assignation.events()]
    window = everything[-500:]
    before = sum(len(e.yields) for e in everything[: -len(window)])
    variables = {"id": assignation.id, "last": len(window), "through": window[0].sequence - 1}
    found = (await post(server.url, server.token, THE_END, **variables))["data"]["assignation"]

    assert found["sequence"] == everything[-1].sequence
    assert [e["sequence"] for e in found["events"]] == [e.sequence for e in window]
    assert (found["yieldCount"], found["before"]) == (3_000, before)
    assert 0 < before < 3_000
    # The values of the window are those after the first `before`: the page can number them.
    values = [v[0] for e in found["events"] if e["kind"] == "YIELD" for v in e["yields"]]
    assert values == list(range(before, 3_000))


async def flood(chunks: int, size: int) -> AsyncIterator[str]:
    for chunk in range(chunks):
        yield f"{chunk:06d}" + "x" * size
        await asyncio.sleep(0.002)  # a report per yield or so: many batches to follow


async def test_a_follower_that_stops_reading_costs_the_server_a_bounded_backlog(
    client: arkitekt.Client, server: RunningPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assignations, "BACKLOG", 4)
    monkeypatch.setattr(assignations, "EVENT_PAGE", 64)
    bus = server._platform.bus  # the embedded server runs in this process
    chunks = 300
    async with serving(client, flood), Follower(server.url, server.token) as follower:
        assignation = await client.assign(flood, chunks=chunks, size=50_000)
        await follower.send(
            id="1",
            type="subscribe",
            payload={"query": WATCH, "variables": {"assignation": assignation.id}},
        )
        # The whole stream (15 MB) is produced while the follower reads nothing.
        backlogs = []
        result = asyncio.ensure_future(assignation.result())
        while not result.done():
            backlogs.append(bus.waiting(f"assignation:{assignation.id}"))
            await asyncio.sleep(0.005)
        await result
        followed = []
        while (message := await follower.receive())["type"] != "complete":
            assert message["type"] == "next", message
            followed.extend(message["payload"]["data"]["watchAssignationEvents"])

    assert 3 <= max(backlogs) <= 4, "the follower fell behind; the server kept at most 4 batches"
    sequences = [event["sequence"] for event in followed]
    assert sequences == list(range(1, len(followed) + 1))
    yields = [ports[0] for event in followed for ports in event["yields"] or ()]
    assert [value[:6] for value in yields] == [f"{chunk:06d}" for chunk in range(chunks)]
    assert followed[-1]["kind"] == "DONE"


async def test_a_slow_caller_resumes_instead_of_holding_the_stream(
    client: arkitekt.Client, server: RunningPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caller, "EVENT_BACKLOG", 200_000)
    chunks, size = 200, 20_000  # 4 MB, produced faster than it is read
    waiting = []
    async with serving(client, flood), arkitekt.connect(server.url, server.token) as reader:
        assignation = await reader.assign(flood, chunks=chunks, size=size)
        values = []
        async for value in assignation.values():
            values.append(value[:6])
            socket = reader.api.transport._socket  # what waits unread, in this process
            waiting.append(sum(socket.waiting.values()) if socket else 0)
            await asyncio.sleep(0.005)

    assert values == [f"{chunk:06d}" for chunk in range(chunks)], "each once, in order"
    assert max(waiting) <= 200_000 + 4 * size, "a bounded backlog, then a resumption"
    assert max(waiting) > 100_000, "the reader fell behind"


class Follower:
    """A graphql-transport-ws client that reads its socket only when asked to: while it
    does not, its small receive buffer fills and the server's sends wait. (A client
    library would read on into its own memory.)"""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.replace("http", "ws", 1) + "/graphql"
        self.token = token
        subprotocols = [Subprotocol("graphql-transport-ws")]
        self.protocol = ClientProtocol(
            parse_uri(self.url), subprotocols=subprotocols, max_size=None
        )
        self.messages: list[dict[str, Any]] = []

    async def __aenter__(self) -> Follower:
        uri = parse_uri(self.url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (uri.host, uri.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=8192)
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        while self.protocol.state is State.CONNECTING:
            await self._read()
        await self.send(type="connection_init", payload={"Authorization": f"Bearer {self.token}"})
        assert (await self.receive())["type"] == "connection_ack"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.writer.close()

    async def send(self, **message: Any) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        await self._flush()

    async def receive(self) -> dict[str, Any]:
        while not self.messages:
            await self._read()
        return self.messages.pop(0)

    async def _read(self) -> None:
        data = await asyncio.wait_for(self.reader.read(65536), 20)
        assert data, "the server closed the connection"
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                assert event.fin, "the server sends each message in one frame"
                self.messages.append(json.loads(event.data))
        await self._flush()  # pongs

    async def _flush(self) -> None:
        self.writer.write(b"".join(self.protocol.data_to_send()))
        await self.writer.drain()


def too_big(megabytes: int) -> str:
    return "x" * (megabytes << 20)


async def test_a_result_too_large_for_a_message_fails_the_call_clearly(
    client: arkitekt.Client,
) -> None:
    async with serving(client, too_big):
        with pytest.raises(arkitekt.RemoteError, match="travels by reference"):
            await client.call(too_big, megabytes=9)
        assert len(await client.call(too_big, megabytes=3)) == 3 << 20, "and serves on"


def loud(megabytes: int) -> int:
    arkitekt.log("y" * (megabytes << 20))
    raise ValueError("z" * (megabytes << 20))


async def test_huge_log_lines_and_errors_are_clipped_and_the_app_serves_on(
    client: arkitekt.Client,
) -> None:
    async with serving(client, loud, too_big):
        assignation = await client.assign(loud, megabytes=20)
        events = [event async for event in assignation.events()]
        log, error = events[-2], events[-1]
        assert log.message is not None
        assert log.message.endswith(f"… ({(20 << 20) - 64 * 1024} more characters)")
        assert error.kind is AssignationEventKind.ERROR
        assert error.message is not None
        assert len(error.message) < 65 * 1024
        assert len(await client.call(too_big, megabytes=1)) == 1 << 20, "and serves on"


def echo(text: str, more: str = "") -> int:
    return len(text) + len(more)


async def test_arguments_too_large_for_a_message_are_refused_before_sending(
    client: arkitekt.Client,
) -> None:
    async with serving(client, echo):
        before = len(await client.api.assignations(limit=1000))
        with pytest.raises(arkitekt.ArgumentError, match=r"^text: it takes 9\.0 MiB") as e:
            await client.call(echo, text="x" * (9 << 20))
        assert e.value.port == "text"
        with pytest.raises(arkitekt.ArgumentError, match=r"^more: with the others, it takes"):
            await client.call(echo, text="x" * (4 << 20), more="y" * (5 << 20))
        assert len(await client.api.assignations(limit=1000)) == before, "nothing was sent"
        assert await client.call(echo, text="x" * (4 << 20)) == 4 << 20


async def trickle(chunks: int, size: int, pause: float) -> AsyncIterator[str]:
    for chunk in range(chunks):
        yield f"{chunk:06d}" + "x" * size
        await asyncio.sleep(pause)


async def test_a_caller_that_falls_behind_still_follows_its_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caller, "EVENT_BACKLOG", 100_000)
    with running_server(tmp_path, caller_grace=1.0, sweep_interval=0.2) as server:
        async with (
            arkitekt.connect(server.url, server.token) as client,
            serving(client, trickle),
        ):
            assignation = await client.assign(trickle, chunks=40, size=50_000, pause=0.1)
            await asyncio.sleep(3.0)  # reading nothing, far behind, past the caller grace
            values = [value[:6] async for value in assignation.values()]
    assert values == [f"{chunk:06d}" for chunk in range(40)]
