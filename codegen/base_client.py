"""The base of the generated client: runs operations on an arkitekt Transport.

Copied verbatim into arkitekt/api by ariadne-codegen; edit it here, then run `poe codegen`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar, Token
from datetime import datetime
from typing import Any

from pydantic import BaseModel as PydanticBaseModel

from arkitekt.errors import ConfigurationError
from arkitekt.transport import Transport

from .base_model import UNSET

current_client: ContextVar[BaseClient | None] = ContextVar("arkitekt_client", default=None)
"""The client that module-level operations (`await create_node(...)`) run on."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, PydanticBaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):  # the DateTime scalar: ISO 8601, with its timezone
        return value.isoformat()
    return value


class BaseClient:
    """Runs generated operations on a transport. `async with` makes it the current client."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._tokens: list[Token[BaseClient | None]] = []

    async def __aenter__(self) -> BaseClient:
        self._tokens.append(current_client.set(self))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tokens:
            try:
                current_client.reset(self._tokens.pop())
            except ValueError:  # exited in another context than it was entered in
                current_client.set(None)
        await self.transport.close()

    def activate(self) -> Token[BaseClient | None]:
        """Makes this the current client of the running context."""
        return current_client.set(self)

    @staticmethod
    def _variables(variables: dict[str, Any] | None) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in (variables or {}).items() if v is not UNSET}

    async def execute(
        self,
        query: str,
        operation_name: str | None = None,
        variables: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return await self.transport.execute(query, operation_name, self._variables(variables))

    def get_data(self, response: dict[str, Any]) -> dict[str, Any]:
        return response

    async def execute_ws(
        self,
        query: str,
        operation_name: str | None = None,
        variables: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[dict[str, Any]]:
        async for data in self.transport.subscribe(
            query, operation_name, self._variables(variables)
        ):
            yield data


def active_client() -> BaseClient:
    """The current client, or a ConfigurationError that says how to get one."""
    client = current_client.get()
    if client is None:
        raise ConfigurationError(
            "No arkitekt client is active. Use `async with arkitekt.connect():` "
            "(or `with arkitekt.connect():`) around this call."
        )
    return client
