"""The ASGI application: GraphQL over HTTP and graphql-transport-ws, and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from ariadne.asgi import GraphQL
from ariadne.asgi.handlers import GraphQLHTTPHandler
from ariadne.explorer import ExplorerHttp405
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from . import leases, relay, retention
from .auth import Principal, ensure_admin_token, parse_authorization
from .blobs import routes as blob_routes
from .context import Context
from .dashboard import routes as dashboard_routes
from .db import Database, make_engine, migrate
from .documents import DocumentCache
from .errors import (
    ApiError,
    InvalidInput,
    LimitExceeded,
    Unauthenticated,
    Unavailable,
    database_unreachable,
    error_formatter,
)
from .limits import Limits, nesting
from .platform import Platform
from .resolvers import build_schema
from .settings import Settings
from .variables import CompiledExecutionContext
from .websocket import TransportWSHandler

log = logging.getLogger("arkitekt.server")


def platform_of(connection: Request | WebSocket) -> Platform:
    platform = connection.app.state.platform
    assert isinstance(platform, Platform)
    return platform


def get_context(connection: Request | WebSocket, data: Any) -> Context:
    return Context(platform=platform_of(connection), principal=connection.state.principal)


def error_response(error: ApiError, status: int) -> JSONResponse:
    body = {"errors": [{"message": str(error), "extensions": {"code": error.code}}]}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


class _Expected(logging.Filter):
    """Keeps the log for failures: errors a client caused (a bad document, a missing id)
    are answered, not logged; unexpected ones are logged by the error formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, GraphQLError)


def _graphql_logger() -> logging.Logger:
    logger = logging.getLogger("arkitekt.server.graphql")
    if not any(isinstance(f, _Expected) for f in logger.filters):
        logger.addFilter(_Expected())
    return logger


async def read_body(request: Request, limits: Limits) -> Any:
    """The request's JSON, refused when it is too big, not JSON, or nests too deeply."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise InvalidInput("Content-Type", "send the operation as application/json")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.request_size:
        raise LimitExceeded(f"The request is larger than {limits.request_size} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.request_size:
            raise LimitExceeded(f"The request is larger than {limits.request_size} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("body", "is not JSON") from None
    if nesting(data) > limits.nesting:
        raise LimitExceeded(f"The request's JSON nests deeper than {limits.nesting} levels.")
    return data


def create_app(settings: Settings) -> Starlette:
    settings.check()
    limits = settings.limits
    documents = DocumentCache(limits=limits)

    def current() -> Platform:
        platform = app.state.platform
        assert isinstance(platform, Platform)
        return platform

    http = GraphQLHTTPHandler()
    graphql = GraphQL(
        build_schema(),
        context_value=get_context,
        query_parser=documents.parse,
        query_validator=documents.validate,
        error_formatter=error_formatter(settings.production),
        execution_context_class=CompiledExecutionContext,
        introspection=not settings.production,
        logger=_graphql_logger(),
        explorer=ExplorerHttp405(),
        http_handler=http,
        websocket_handler=TransportWSHandler(
            authenticate=lambda token: current().tokens.authenticate(token),
            connections=lambda: current().connections,
            max_operations=limits.operations,
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout),
        ),
    )

    async def graphql_http(request: Request) -> Response:
        try:
            token = parse_authorization(request.headers.get("authorization"))
            grant = await platform_of(request).tokens.authenticate(token)
        except Unauthenticated as error:
            return error_response(error, 401)
        except Exception as error:
            if not database_unreachable(error):
                raise
            refused = Unavailable("The platform's database is unavailable; try again shortly.")
            return error_response(refused, 503)
        try:
            data = await read_body(request, limits)
        except LimitExceeded as error:
            return error_response(error, 413)
        except InvalidInput as error:
            return error_response(error, 415 if error.field == "Content-Type" else 400)
        request.state.principal = Principal(grant)
        success, result = await http.execute_graphql_query(request, data)
        return await http.create_json_response(request, result, success)

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
        janitor = asyncio.create_task(retention.run_janitor(platform), name="arkitekt-janitor")
        tasks = [janitor, sweeper, writer]
        if platform.clustered:
            url = settings.resolved_database_url
            tasks.insert(0, asyncio.create_task(relay.listen(platform, url), name="arkitekt-relay"))
        try:
            new_token = await ensure_admin_token(
                platform.tokens, settings.admin_token, keep=settings.production
            )
            app.state.admin_token = new_token or settings.admin_token
            # What start-up built (the schema, modules, caches) lives as long as the server:
            # keep it out of the collector's full passes, which otherwise stall requests.
            gc.freeze()
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            db.close()

    app = Starlette(
        routes=[
            Route("/graphql", graphql_http, methods=["POST"]),
            WebSocketRoute("/graphql", graphql_ws),
            Route("/health", health),
            *blob_routes(),
            *dashboard_routes(),
        ],
        lifespan=lifespan,
    )
    return app
