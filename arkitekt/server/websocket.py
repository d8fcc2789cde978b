"""GraphQL over graphql-transport-ws, strict about what clients send.

ariadne's handler, with what a public server needs on top: the token is checked at
connection_init (a bad one closes with 4403), the socket is registered under its token (so
that revoking the token closes it) and closes when the token expires, malformed messages
close it with 4400 instead of raising, and each connection holds a bounded number of
operations. Subscription events are projected onto the operation's selection without
graphql-core's per-field execution where that gives the same result (`projection`).

Protocol: https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from ariadne.asgi.handlers import GraphQLTransportWSHandler
from ariadne.asgi.handlers.graphql_transport_ws import ClientContext
from ariadne.graphql import validate_data
from graphql import ExecutionResult, GraphQLError, parse
from graphql.execution.map_async_iterator import MapAsyncIterator
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from .auth import Grant, Principal, parse_authorization
from .connections import FORBIDDEN, Connections
from .errors import ApiError, LimitExceeded, Unauthenticated
from .journal import Recent
from .projection import Project, Unprojectable, compile_projection
from .tables import now

# Close codes (PROTOCOL.md): a message the protocol does not allow.
INVALID_MESSAGE = 4400
TOO_MANY_INITIALISATION_REQUESTS = 4429
TRY_AGAIN_LATER = 1013  # RFC 6455, section 7.4.1 (registered with IANA)

log = logging.getLogger("arkitekt.server")


class Connection(ClientContext):
    """One websocket's state: ariadne's, plus who opened it."""

    def __init__(self) -> None:
        super().__init__()
        self.principal: Principal | None = None
        self.expiry: asyncio.Task[None] | None = None
        self.requests: dict[str, dict[str, Any]] = {}
        """Subscribe messages whose results are not yet observed, by operation id."""


def _connected(websocket: WebSocket) -> bool:
    return WebSocketState.DISCONNECTED not in (websocket.client_state, websocket.application_state)


def _decode(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """A protocol message from a websocket frame, or None when it is not one."""
    text = message.get("text")
    if text is None:
        return None  # binary frames carry no protocol message
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    if data["type"] in ("subscribe", "complete") and not (
        isinstance(data.get("id"), str) and data["id"]
    ):
        return None
    return data


class TransportWSHandler(GraphQLTransportWSHandler):
    """See the module's docstring.

    Args:
        authenticate: Checks a token; raises `Unauthenticated` for a bad one.
        connections: Where open sockets are registered by token.
        max_operations: How many operations one connection may run at once.
    """

    def __init__(
        self,
        *args: Any,
        authenticate: Callable[[str], Awaitable[Grant]],
        connections: Callable[[], Connections],
        max_operations: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.authenticate = authenticate
        self.connections = connections
        self.max_operations = max_operations
        self.projections: Recent[tuple[str, str | None], tuple[Project | None]] = Recent(512)

    async def handle_websocket(self, websocket: WebSocket) -> None:
        await websocket.accept("graphql-transport-ws")
        connection = Connection()
        connection.connection_init_timeout_task = asyncio.create_task(
            self.handle_connection_init_timeout(websocket, connection)
        )
        try:
            while _connected(websocket):
                frame = await websocket.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                message = _decode(frame)
                if message is None:
                    await websocket.close(INVALID_MESSAGE, "Not a graphql-transport-ws message.")
                    break
                await self.handle_websocket_message(websocket, message, connection)
        except WebSocketDisconnect:
            pass
        finally:
            await self._end(websocket, connection)

    async def _end(self, websocket: WebSocket, connection: Connection) -> None:
        for task in (connection.connection_init_timeout_task, connection.expiry):
            if task is not None:
                task.cancel()
        for operation_id in list(connection.operations):
            await self.stop_websocket_operation(websocket, operation_id, connection)
        if connection.principal is not None:
            self.connections().remove(websocket, connection.principal)

    async def handle_websocket_connection_init_message(
        self, websocket: WebSocket, message: dict[str, Any], client_context: Any
    ) -> None:
        connection: Connection = client_context
        if connection.connection_init_received:
            await websocket.close(code=TOO_MANY_INITIALISATION_REQUESTS)
            return
        connection.connection_init_received = True
        try:
            grant = await self.authenticate(_token(websocket, message.get("payload")))
        except Unauthenticated as error:
            await websocket.close(code=FORBIDDEN, reason=str(error)[:120])
            return
        except Exception as error:  # the database is unreachable: the client retries
            log.warning("Cannot check a websocket's token: %s", error)
            await websocket.close(code=TRY_AGAIN_LATER, reason="Try again later.")
            return
        connection.principal = websocket.state.principal = Principal(grant)
        self.connections().add(websocket, connection.principal)
        if grant.expires_at is not None:
            delay = (grant.expires_at - now()).total_seconds()
            connection.expiry = asyncio.create_task(_close_later(websocket, delay))
        await websocket.send_json({"type": self.GQL_CONNECTION_ACK})
        connection.connection_acknowledged = True

    async def handle_websocket_subscribe(
        self, websocket: WebSocket, data: Any, operation_id: str, client_context: Any
    ) -> None:
        connection: Connection = client_context
        if connection.connection_acknowledged:
            try:
                validate_data(data)
                if len(connection.operations) >= self.max_operations:
                    raise LimitExceeded(
                        f"At most {self.max_operations} operations run at once on one "
                        "connection; complete some first."
                    )
            except (GraphQLError, ApiError) as error:
                await self._refuse(websocket, operation_id, error)
                return
        connection.requests[operation_id] = data
        try:
            await super().handle_websocket_subscribe(websocket, data, operation_id, connection)
        finally:
            if operation_id not in connection.operation_tasks:  # refused: nothing to observe
                connection.requests.pop(operation_id, None)

    async def _refuse(
        self, websocket: WebSocket, operation_id: str, error: GraphQLError | ApiError
    ) -> None:
        if isinstance(error, ApiError):
            error = GraphQLError(str(error), original_error=error)
        # Server -> Client: the operation failed before it started (PROTOCOL.md, "Error").
        await websocket.send_json(
            {
                "type": self.GQL_ERROR,
                "id": operation_id,
                "payload": [self.error_formatter(error, self.debug)],
            }
        )

    async def observe_async_results(
        self,
        websocket: WebSocket,
        results_producer: AsyncGenerator[Any, None],
        operation_id: str,
        client_context: Any,
    ) -> None:
        connection: Connection = client_context
        data = connection.requests.pop(operation_id, None)
        source: object = results_producer
        if data is not None and isinstance(source, MapAsyncIterator):
            project = self._projection(data)
            if project is not None:
                results_producer = _projected(source, project)
        # The socket may close under the operation (revoked, or gone): it ends with it.
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await super().observe_async_results(
                websocket, results_producer, operation_id, client_context
            )

    def _projection(self, data: dict[str, Any]) -> Project | None:
        key = (data["query"], data.get("operationName"))
        cached = self.projections.get(key)
        if cached is None:
            assert self.schema is not None
            parser = self.query_parser
            document = parser(None, data) if parser is not None else parse(data["query"])
            cached = self.projections.put(key, (compile_projection(self.schema, document, key[1]),))
        return cached[0]


async def _projected(
    results: MapAsyncIterator, project: Project
) -> AsyncGenerator[dict[str, Any] | ExecutionResult, None]:
    """The subscription's source events, projected; graphql-core executes what cannot be."""
    async for event in results.iterator:
        try:
            data = project(event)
        except Unprojectable:
            yield await results.callback(event)
        else:
            yield {"data": data}


def _token(websocket: WebSocket, payload: Any) -> str:
    """The token of connection_init's payload, or of the upgrade request's header."""
    value = None
    if isinstance(payload, dict):
        value = payload.get("Authorization") or payload.get("authorization")
    value = value or websocket.headers.get("authorization")
    return parse_authorization(value if isinstance(value, str) else None)


async def _close_later(websocket: WebSocket, delay: float) -> None:
    await asyncio.sleep(max(0.0, delay))
    with contextlib.suppress(RuntimeError, OSError):
        await websocket.close(code=FORBIDDEN, reason="The token has expired.")
