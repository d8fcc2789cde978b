"""Every error arkitekt raises, under one root.

ArkitektError
├── ConfigurationError            no server URL or token could be found
├── ServerUnavailableError        the server cannot be reached, or went away (ConnectionError)
├── ClientClosedError             this client was closed by your code
├── ApiError                      the server refused a request; `.code` is its ErrorCode
│   ├── AuthenticationError       UNAUTHENTICATED (PermissionError)
│   ├── PermissionDeniedError     FORBIDDEN (PermissionError)
│   ├── NotFoundError             NOT_FOUND (LookupError)
│   ├── InvalidInputError         INVALID_INPUT (ValueError)
│   ├── ConflictError             CONFLICT
│   ├── LimitExceededError        LIMIT_EXCEEDED
│   └── ServiceUnavailableError   UNAVAILABLE (also a ServerUnavailableError: retry)
├── RegistrationError             a function cannot become a node (TypeError)
├── StartupError                  an app's startup failed, or is used before it ran
├── StructureError                a value could not be shrunk or expanded
├── ArgumentError                 an argument does not fit its port (ValueError)
├── TargetError                   a call's target names no node, or several (LookupError)
├── ReservationError              a reservation cannot serve the call
└── AssignationError              a call did not end with a result
    ├── RemoteError               the function raised; `.type`, `.message`, `.traceback`
    ├── AssignationCancelledError the call was cancelled
    ├── AgentDisconnectedError    the agent running the call went away
    └── AssignationTimeoutError   the call did not finish in time (TimeoutError)
"""

from __future__ import annotations

from typing import Any, ClassVar


class ArkitektError(Exception):
    """The root of every arkitekt error."""


class ConfigurationError(ArkitektError):
    """No server URL or token could be found, or the config file is unreadable."""


class ServerUnavailableError(ArkitektError, ConnectionError):
    """The server cannot be reached, or closed the connection."""


class FellBehindError(ServerUnavailableError):
    """A subscription's reader fell so far behind that the client stopped it: subscribe
    again from the last result read (`Assignation.events` does so by itself)."""


class ClientClosedError(ArkitektError):
    """The client was used after your code closed it."""


class ApiError(ArkitektError):
    """The server answered a request with an error."""

    code: ClassVar[str] = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        path: list[str | int] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        """The server's message."""
        self.path = path
        """Where in the response the error happened, when the server said."""
        self.extensions = extensions or {}
        """What the server said besides the code: the `kind` of thing a NOT_FOUND error
        did not find (`node`, `blob`…), the `field` an INVALID_INPUT error refuses."""


class AuthenticationError(ApiError, PermissionError):
    code = "UNAUTHENTICATED"


class PermissionDeniedError(ApiError, PermissionError):
    code = "FORBIDDEN"


class NotFoundError(ApiError, LookupError):
    code = "NOT_FOUND"


class InvalidInputError(ApiError, ValueError):
    code = "INVALID_INPUT"


class ConflictError(ApiError):
    code = "CONFLICT"


class LimitExceededError(ApiError):
    code = "LIMIT_EXCEEDED"


class ServiceUnavailableError(ApiError, ServerUnavailableError):
    """The platform answered but cannot serve now (its database is unreachable): retry."""

    code = "UNAVAILABLE"


_API_ERRORS: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        InvalidInputError,
        ConflictError,
        LimitExceededError,
        ServiceUnavailableError,
    )
}


def api_error(error: dict[str, Any]) -> ApiError:
    """Turns one entry of a GraphQL response's `errors` into its exception."""
    extensions = error.get("extensions") or {}
    cls = _API_ERRORS.get(str(extensions.get("code")), ApiError)
    message = str(error.get("message", "unknown error"))
    return cls(message, path=error.get("path"), extensions=extensions)


class RegistrationError(ArkitektError, TypeError):
    """A function cannot be registered; the message says what to change."""

    def __init__(self, message: str, *, function: str, parameter: str | None = None) -> None:
        where = f"{function}({parameter})" if parameter else function
        super().__init__(f"{where}: {message}")
        self.function = function
        """The function's name."""
        self.parameter = parameter
        """The parameter at fault (`return` for the return annotation), if any."""


class StartupError(ArkitektError):
    """An app's startup failed (the cause is chained), or its value was asked for while
    it was not running."""

    def __init__(self, message: str, *, startup: str, traceback: str = "") -> None:
        super().__init__(message)
        self.startup = startup
        """The startup's name."""
        self.traceback = traceback
        """Where it failed, from the startup's own frame on, as text."""


class StructureError(ArkitektError):
    """A structure could not be shrunk to a reference or expanded from one."""


class ArgumentError(ArkitektError, ValueError):
    """An argument does not fit its port; the message names the port and the rule."""

    def __init__(self, message: str, *, port: str) -> None:
        super().__init__(f"{port}: {message}")
        self.port = port
        """The port's key (a dotted path for nested values, e.g. `images[2]`)."""


class TargetError(ArkitektError, LookupError):
    """A call's target names no node, or more than one."""


class ReservationError(ArkitektError):
    """A reservation cannot serve the call."""


class AssignationError(ArkitektError):
    """A call ended without a result."""

    def __init__(self, message: str, *, assignation: str) -> None:
        super().__init__(message)
        self.assignation = assignation
        """The assignation's id."""


class RemoteError(AssignationError):
    """The remote function raised an exception."""

    def __init__(self, *, type: str, message: str, traceback: str, assignation: str) -> None:
        super().__init__(f"{type}: {message}", assignation=assignation)
        self.type = type
        """The remote exception's type name, e.g. `ValueError`."""
        self.message = message
        """The remote exception's message."""
        self.traceback = traceback
        """The remote traceback, as text."""


class AssignationCancelledError(AssignationError):
    """The call was cancelled, by the caller or the agent."""


class AgentDisconnectedError(AssignationError):
    """The agent running the call disconnected before it finished."""


class AssignationTimeoutError(AssignationError, TimeoutError):
    """The call did not finish in time; it has been cancelled."""
