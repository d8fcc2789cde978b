"""The `arkitekt` command line. Heavy modules (the server, the SDK) load inside commands,
so that `arkitekt --help` answers at once."""

from .main import app, main

__all__ = ["app", "main"]
