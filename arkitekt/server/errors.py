"""Errors resolvers raise, each with a stable `extensions.code` (ErrorCode in the SDL)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, ClassVar

from graphql import GraphQLError

log = logging.getLogger("arkitekt.server")


class ApiError(Exception):
    code: ClassVar[str] = "INTERNAL"

    @property
    def extensions(self) -> dict[str, str]:
        """What the error's `extensions` say besides its code."""
        return {}


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class NotFound(ApiError):
    """Nothing of `kind` with that key that the caller may see. `kind` starts with the noun
    (`team of yours`), which `extensions.kind` carries: clients say what lists those."""

    code = "NOT_FOUND"

    def __init__(self, kind: str, key: object, *, by: str = "id") -> None:
        super().__init__(f"No {kind} with {by} {key!r}.")
        self.kind = kind.split()[0]

    @property
    def extensions(self) -> dict[str, str]:
        return {"kind": self.kind}


class InvalidInput(ApiError):
    code = "INVALID_INPUT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field

    @property
    def extensions(self) -> dict[str, str]:
        return {"field": self.field}


class Conflict(ApiError):
    code = "CONFLICT"


class LimitExceeded(ApiError):
    code = "LIMIT_EXCEEDED"


class Unavailable(ApiError):
    code = "UNAVAILABLE"


def database_unreachable(error: BaseException) -> bool:
    """Whether the database could not be reached (as opposed to refusing a statement)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(error, OperationalError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """Gives every error a code; unexpected ones are logged and hidden behind INTERNAL."""
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    extensions: dict[str, str] = {}
    if isinstance(original, ApiError):
        code, extensions = original.code, original.extensions
    elif original is None:
        # A document or variable the schema rejects, or a limit the document exceeds.
        code = (error.extensions or {}).get("code") or "INVALID_INPUT"
    elif database_unreachable(original):
        log.warning("The database is unavailable: %s", original)
        formatted["message"] = "The platform's database is unavailable; try again shortly."
        code = "UNAVAILABLE"
    else:
        log.error("Unexpected error in %s", error.path, exc_info=original)
        formatted["message"] = "Internal server error; the server log has the details."
        code = "INTERNAL"
    formatted["extensions"] = {**(formatted.get("extensions") or {}), **extensions, "code": code}
    return formatted


_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def format_public_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """`format_error`, without suggestions of names: a public server does not help
    strangers discover its schema."""
    formatted = format_error(error, debug)
    formatted["message"] = _SUGGESTION.sub("", formatted["message"])
    return formatted


def error_formatter(production: bool) -> Callable[[GraphQLError, bool], dict[str, Any]]:
    return format_public_error if production else format_error
