"""How the SDK talks to the platform: keep-alive HTTP for queries and mutations, and one
graphql-transport-ws websocket per client carrying all its subscriptions.

Protocol: https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, TypeVar

import aiohttp

from .errors import (
    ApiError,
    AuthenticationError,
    ClientClosedError,
    FellBehindError,
    ServerUnavailableError,
    api_error,
)

SUBPROTOCOL: Final = "graphql-transport-ws"
# Close codes the server may send (PROTOCOL.md, "Connection initialisation").
FORBIDDEN: Final = 4403
UNAUTHORIZED: Final = 4401

_COMPLETE: Final = object()

OUTAGE_DELAYS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)
"""Seconds between the tries of a request while the platform cannot be reached (it
restarts, the network drops): half a minute in all, so that a long acquisition, or a
script calling through a list, outlives a restart of the platform."""

_MUTATION: Final = re.compile(r"^\s*mutation\b", re.MULTILINE)

T = TypeVar("T")
log = logging.getLogger("arkitekt.transport")


def _any_outage(error: ServerUnavailableError) -> bool:
    """Whether the platform could not be reached: not when it answered that it cannot
    serve now (its database is away), which the caller hears at once."""
    return not isinstance(error, ApiError)


def _not_sent(error: ServerUnavailableError) -> bool:
    """Whether the request failed before it left: the platform did not take a connection."""
    return isinstance(error.__cause__, aiohttp.ClientConnectorError)


def _raise_errors(payload: dict[str, Any]) -> dict[str, Any]:
    errors = payload.get("errors")
    if errors:
        raise api_error(errors[0])
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ApiError("The server sent a response without data.")
    return data


class _Socket:
    """One graphql-transport-ws connection, shared by every subscription of a client.

    The reader never waits for a subscription's consumer: it must answer pings and serve
    the other subscriptions. A subscription may instead bound what waits for its consumer
    (`backlogs`, in bytes); past it, what arrives for it is dropped, and its consumer gets
    `FellBehindError` (to subscribe again from where it was) instead of what waited.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.queues: dict[str, asyncio.Queue[object]] = {}
        self.backlogs: dict[str, int] = {}
        """Bytes that may wait for each bounded subscription."""
        self.waiting: dict[str, int] = {}
        """Bytes that wait for each bounded subscription."""
        self.ids = itertools.count(1)
        self.reader = asyncio.create_task(self._read(), name="arkitekt-ws-reader")

    @property
    def alive(self) -> bool:
        return not self.ws.closed and not self.reader.done()

    async def _read(self) -> None:
        reason: BaseException = ServerUnavailableError("The server closed the websocket.")
        try:
            async for message in self.ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data.get("type") == "ping":  # Server -> Client (PROTOCOL.md, "Ping").
                    await self.ws.send_json({"type": "pong"})
                else:
                    self._dispatch(data, len(message.data))
            code = self.ws.close_code
            if code in (FORBIDDEN, UNAUTHORIZED):
                reason = AuthenticationError("The server refused the token on the websocket.")
            elif code is not None:
                reason = ServerUnavailableError(f"The server closed the websocket ({code}).")
        except (aiohttp.ClientError, OSError) as error:
            reason = ServerUnavailableError(f"The websocket failed: {error}")
        finally:
            for queue in self.queues.values():
                queue.put_nowait(reason)

    def _dispatch(self, message: dict[str, Any], size: int) -> None:
        kind = message.get("type")
        operation = str(message.get("id"))
        queue = self.queues.get(operation)
        if queue is None:
            return
        if kind == "next":
            if operation in self.backlogs:
                self.waiting[operation] += size
                if self.waiting[operation] > self.backlogs[operation] and not queue.empty():
                    self._stop_behind(operation, queue)
                    return
            queue.put_nowait((message.get("payload") or {}, size))
        elif kind == "error":
            errors = message.get("payload") or [{"message": "subscription refused"}]
            queue.put_nowait(api_error(errors[0]))
        elif kind == "complete":
            queue.put_nowait(_COMPLETE)

    def _stop_behind(self, operation: str, queue: asyncio.Queue[object]) -> None:
        """Drops what waits, and whatever else comes for the operation, until its consumer
        learns it fell behind and ends it. Until then it runs on the server: the call it
        follows stays followed."""
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(FellBehindError(f"The reader of subscription {operation} fell behind."))
        del self.queues[operation]

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


class Transport:
    """HTTP and websocket access to one arkitekt server, with one bearer token.

    Resource handling: `open()` creates the HTTP session; the websocket opens with the first
    subscription and is shared by all later ones. `close()` ends both, and every open
    subscription ends with `ClientClosedError`.
    """

    def __init__(self, url: str, token: str | None, *, connect_timeout: float = 10.0) -> None:
        base = url.rstrip("/")
        self.url = base
        self.graphql_url = f"{base}/graphql"
        self.ws_url = "ws" + self.graphql_url.removeprefix("http")
        self.token = token
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._socket: _Socket | None = None
        self._socket_lock = asyncio.Lock()
        self.mutations_on_socket = False
        """Send queries and mutations over the websocket (graphql-transport-ws allows
        single-result operations): an agent's frequent reports skip HTTP's overhead."""
        self.backlogs: dict[str, int] = {}
        """Subscriptions (by operation name) whose consumer may fall behind and resume, with
        the bytes that may wait for it unread."""
        self.reached = False
        """Whether the platform answered once: when it cannot be reached after that (it
        restarts), a request is worth trying again, where a wrong URL is not."""
        self._closed = False

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("This client is closed; open a new one with connect().")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout),
            )
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._socket is not None:
            await self._socket.close()
            for queue in self._socket.queues.values():
                queue.put_nowait(ClientClosedError("The client was closed."))
            self._socket = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def patiently(
        self,
        attempt: Callable[[bool], Awaitable[T]],
        worth_retrying: Callable[[ServerUnavailableError], bool] = _any_outage,
    ) -> T:
        """`attempt(again)` until it reaches the platform, or `OUTAGE_DELAYS` run out,
        once the platform was reached before (a wrong URL fails at once); `again` says
        that an earlier try may have done its work before its answer was lost."""
        for tries, delay in enumerate((*OUTAGE_DELAYS, None)):
            try:
                return await attempt(tries > 0)
            except ServerUnavailableError as error:
                if delay is None or not self.reached or not worth_retrying(error):
                    raise
                if tries == 0:
                    log.warning("%s Trying again for up to %d s.", error, sum(OUTAGE_DELAYS))
                await asyncio.sleep(delay)
        raise AssertionError("the last try raises")

    def _unavailable(self, error: BaseException) -> ServerUnavailableError:
        return ServerUnavailableError(
            f"Cannot reach the arkitekt server at {self.url} ({error}). "
            "Is `arkitekt server` running there?"
        )

    async def execute(
        self, query: str, operation_name: str | None, variables: dict[str, Any]
    ) -> dict[str, Any]:
        """Runs a query or mutation and returns its data, or raises its error: over HTTP, or
        over the websocket when `mutations_on_socket` is set."""
        if self.mutations_on_socket:
            results = [data async for data in self.subscribe(query, operation_name, variables)]
            if not results:
                raise ApiError("The server answered without a result.")
            return results[0]
        body = {"query": query, "operationName": operation_name, "variables": variables}

        async def attempt(again: bool) -> dict[str, Any]:
            try:
                async with self.session.post(self.graphql_url, json=body) as response:
                    self.reached |= response.status < 500  # not a proxy's 502
                    try:
                        payload = await response.json(content_type=None)
                    except (json.JSONDecodeError, aiohttp.ContentTypeError) as error:
                        raise ApiError(
                            f"The server answered HTTP {response.status} without JSON."
                        ) from error
            except (aiohttp.ClientConnectionError, OSError) as error:
                raise self._unavailable(error) from error
            if not isinstance(payload, dict):
                raise ApiError(f"The server answered HTTP {response.status} with {payload!r}.")
            return _raise_errors(payload)

        # A query is asked again; a mutation only when it never left, so as not to make it
        # twice (an assignation made as the platform went down raises: its `reference`
        # makes trying it again safe).
        return await self.patiently(attempt, _not_sent if _MUTATION.search(query) else _any_outage)

    async def _connected_socket(self) -> _Socket:
        async with self._socket_lock:
            if self._socket is not None and self._socket.alive:
                return self._socket
            try:
                ws = await self.session.ws_connect(
                    self.ws_url, protocols=[SUBPROTOCOL], heartbeat=20.0, max_msg_size=0
                )
            except (aiohttp.ClientError, OSError) as error:
                raise self._unavailable(error) from error
            await ws.send_json({"type": "connection_init", "payload": self.headers})
            try:
                async with asyncio.timeout(self.connect_timeout):
                    message = await ws.receive()
            except TimeoutError as error:
                await ws.close()
                raise ServerUnavailableError(
                    "The server did not acknowledge the websocket."
                ) from error
            if message.type is not aiohttp.WSMsgType.TEXT:
                await ws.close()
                if ws.close_code in (FORBIDDEN, UNAUTHORIZED):
                    raise AuthenticationError("The server refused the token on the websocket.")
                raise ServerUnavailableError(f"The websocket closed ({ws.close_code}).")
            if json.loads(message.data).get("type") != "connection_ack":
                await ws.close()
                raise ServerUnavailableError("The server did not acknowledge the websocket.")
            self._socket = _Socket(ws)
            self.reached = True
            return self._socket

    async def subscribe(
        self, query: str, operation_name: str | None, variables: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """Runs a subscription on the shared websocket and yields the data of each result.

        Error handling: a GraphQL error raises its `ApiError`; a lost connection raises
        `ServerUnavailableError`, after which the caller may subscribe again. An operation
        named in `backlogs` raises `FellBehindError` when its results wait unread past
        its bound.
        """
        socket = await self.patiently(lambda again: self._connected_socket(), _not_sent)
        operation = str(next(socket.ids))
        queue: asyncio.Queue[object] = asyncio.Queue()
        socket.queues[operation] = queue
        if operation_name in self.backlogs:
            socket.backlogs[operation] = self.backlogs[operation_name]
            socket.waiting[operation] = 0
        payload = {"query": query, "operationName": operation_name, "variables": variables}
        completed = False
        try:
            try:
                await socket.ws.send_json(
                    {"id": operation, "type": "subscribe", "payload": payload}
                )
            except (aiohttp.ClientError, ConnectionError) as error:  # it closed as we sent
                completed = True
                raise ServerUnavailableError(f"The websocket failed: {error}") from error
            while True:
                item = await queue.get()
                if item is _COMPLETE:
                    completed = True
                    return
                if isinstance(item, BaseException):
                    completed = not isinstance(item, FellBehindError)  # else: end it, below
                    raise item
                assert isinstance(item, tuple)
                result, size = item
                if operation in socket.waiting:
                    socket.waiting[operation] -= size
                yield _raise_errors(result)
        finally:
            socket.queues.pop(operation, None)
            socket.backlogs.pop(operation, None)
            socket.waiting.pop(operation, None)
            while not completed and not queue.empty():  # the server completed it already
                completed = queue.get_nowait() is _COMPLETE
            if not completed and socket.alive:
                # Client -> Server: stop this operation (PROTOCOL.md, "Complete").
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await socket.ws.send_json({"id": operation, "type": "complete"})
