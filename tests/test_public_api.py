"""The public namespace is deliberate: adding or removing a name is a visible change."""

import arkitekt

EXPECTED = {
    "Agent",
    "AgentDisconnectedError",
    "AgentStatistics",
    "ApiError",
    "Array",
    "ArgumentError",
    "ArkitektError",
    "Assignation",
    "AssignationCancelledError",
    "AssignationError",
    "AssignationTimeoutError",
    "AuthenticationError",
    "BlockingClient",
    "BlockingReservation",
    "Client",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "Event",
    "FellBehindError",
    "File",
    "InvalidInputError",
    "LimitExceededError",
    "Node",
    "NotFoundError",
    "PermissionDeniedError",
    "Port",
    "RegistrationError",
    "Registry",
    "RemoteError",
    "Reservation",
    "ReservationError",
    "ServerUnavailableError",
    "Startup",
    "StartupError",
    "Strategy",
    "StructureError",
    "Target",
    "TargetError",
    "__version__",
    "assign",
    "call",
    "cancelled",
    "connect",
    "current_client",
    "log",
    "node_of",
    "progress",
    "register",
    "register_structure",
    "reserve",
    "startup",
    "stream",
}


def test_exported_names() -> None:
    assert set(arkitekt.__all__) == EXPECTED
    for name in arkitekt.__all__:
        assert hasattr(arkitekt, name), name


def test_errors_share_one_root_and_the_standard_categories() -> None:
    for name in arkitekt.__all__:
        value = getattr(arkitekt, name)
        if isinstance(value, type) and name.endswith("Error"):
            assert issubclass(value, arkitekt.ArkitektError), name
    assert issubclass(arkitekt.AssignationTimeoutError, TimeoutError)
    assert issubclass(arkitekt.RegistrationError, TypeError)
    assert issubclass(arkitekt.ArgumentError, ValueError)
    assert issubclass(arkitekt.ServerUnavailableError, ConnectionError)


def test_the_built_in_structures_are_the_ones_in_arkitekt_structures() -> None:
    from arkitekt.structures import Array, File

    assert (arkitekt.Array, arkitekt.File) == (Array, File)


def test_an_event_prints_what_it_says_and_no_more() -> None:
    from arkitekt.api.enums import AssignationEventKind, LogLevel

    progress = arkitekt.Event("a", 2, AssignationEventKind.PROGRESS, progress=50.0, message="x")
    logged = arkitekt.Event("a", 4, AssignationEventKind.LOG, message="hi", level=LogLevel.INFO)
    failed = arkitekt.Event("a", 6, AssignationEventKind.ERROR, error_type="E", traceback="...")
    assert repr(progress) == "Event(2 PROGRESS progress=50.0 message='x')"
    assert repr(logged) == "Event(4 LOG message='hi' level='INFO')"
    assert repr(failed) == "Event(6 ERROR error_type='E')"
