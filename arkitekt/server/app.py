"""The ASGI application: GraphQL over HTTP and graphql-transport-ws, and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from ariadne.asgi import GraphQL
from ariadne.asgi.handlers import GraphQLTransportWSHandler
from ariadne.explorer import ExplorerHttp405
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from . import leases, relay
from .auth import ensure_admin_token, parse_authorization
from .blobs import routes as blob_routes
from .context import Context
from .dashboard import routes as dashboard_routes
from .db import Database, make_engine, migrate
from .documents import DocumentCache
from .errors import Unauthenticated, format_error
from .platform import Platform
from .resolvers import build_schema
from .settings import Settings

# graphql-transport-ws close code for a refused connection_init (PROTOCOL.md).
FORBIDDEN = 4403


class TransportWSHandler(GraphQLTransportWSHandler):
    """Closes a refused connection_init with 4403, as the protocol asks (ariadne uses 1000)."""

    async def handle_websocket_connection_init_message(
        self, websocket: WebSocket, message: dict[str, Any], client_context: Any
    ) -> None:
        if client_context.connection_init_received:
            await websocket.close(code=4429)  # too many initialisation requests
            return
        client_context.connection_init_received = True
        try:
            await authenticate_websocket(websocket, message.get("payload"))
        except Unauthenticated as error:
            await websocket.close(code=FORBIDDEN, reason=str(error)[:120])
            return
        await websocket.send_json({"type": self.GQL_CONNECTION_ACK})
        client_context.connection_acknowledged = True


def platform_of(connection: Request | WebSocket) -> Platform:
    platform = connection.app.state.platform
    assert isinstance(platform, Platform)
    return platform


async def authenticate_websocket(websocket: WebSocket, payload: Any) -> None:
    value = None
    if isinstance(payload, dict):
        value = payload.get("Authorization") or payload.get("authorization")
    value = value or websocket.headers.get("authorization")
    token = parse_authorization(value if isinstance(value, str) else None)
    websocket.state.user = await platform_of(websocket).tokens.authenticate(token)


def get_context(connection: Request | WebSocket, data: Any) -> Context:
    return Context(platform=platform_of(connection), user=connection.state.user)


def unauthenticated(error: Unauthenticated) -> JSONResponse:
    body = {"errors": [{"message": str(error), "extensions": {"code": error.code}}]}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def create_app(settings: Settings) -> Starlette:
    documents = DocumentCache()
    graphql = GraphQL(
        build_schema(),
        context_value=get_context,
        query_parser=documents.parse,
        query_validator=documents.validate,
        error_formatter=format_error,
        explorer=ExplorerHttp405(),
        websocket_handler=TransportWSHandler(
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout)
        ),
    )

    async def graphql_http(request: Request) -> Response:
        try:
            token = parse_authorization(request.headers.get("authorization"))
            request.state.user = await platform_of(request).tokens.authenticate(token)
        except Unauthenticated as error:
            return unauthenticated(error)
        return await graphql.handle_request(request)

    async def graphql_ws(websocket: WebSocket) -> None:
        await graphql.handle_websocket(websocket)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)
        await asyncio.to_thread(migrate, engine)
        db = Database(engine)
        platform = app.state.platform = Platform(settings, db)
        writer = asyncio.create_task(db.write.run(), name="arkitekt-writer")
        sweeper = asyncio.create_task(leases.run_sweeper(platform), name="arkitekt-sweeper")
        tasks = [sweeper, writer]
        if platform.clustered:
            url = settings.resolved_database_url
            tasks.insert(0, asyncio.create_task(relay.listen(platform, url), name="arkitekt-relay"))
        try:
            new_token = await ensure_admin_token(platform.tokens, settings.admin_token)
            app.state.admin_token = new_token or settings.admin_token
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            db.close()

    return Starlette(
        routes=[
            Route("/graphql", graphql_http, methods=["POST"]),
            WebSocketRoute("/graphql", graphql_ws),
            Route("/health", health),
            *blob_routes(),
            *dashboard_routes(),
        ],
        lifespan=lifespan,
    )
