"""How a server is configured."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from arkitekt.config import data_dir

from .limits import Limits

DEFAULT_PORT = 6888
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=data_dir)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    database_url: str | None = None
    """SQLAlchemy URL; default: SQLite in the data directory."""
    connection_init_timeout: float = 3.0
    """Seconds a websocket may take to send connection_init (4408 after)."""
    admin_token: str | None = None
    """A token the operator already holds; a new admin token is made unless it still works.
    In production it is the operator's secret, and becomes the admin's token."""
    production: bool = False
    """Serve the public: no introspection, no field suggestions in errors, and a configured
    admin token (never one made up and written to a file)."""
    limits: Limits = field(default_factory=Limits)
    """What one request, document or websocket may ask for."""
    heartbeat: float = 5.0
    """Seconds between websocket pings; a connection that misses one for as long is dead."""
    grace: float = 10.0
    """Seconds a disconnected agent has to reconnect and reclaim its work."""
    caller_grace: float = 60.0
    """Seconds a call that is not detached runs on while nobody follows its events (its
    caller went away) before it is cancelled."""
    sweep_interval: float = 1.0
    """Seconds between sweeps for lost work, stale replicas and undelivered assignations."""
    max_attempts: int = 3
    """How many times idempotent work lost with its agents is started, at most."""
    blob_retention: float | None = None
    """Days a blob is kept; None keeps every blob. Releases' bundles, and blobs that calls
    which have not ended take as arguments, are kept whatever their age."""
    history_retention: float | None = None
    """Days a call is kept after it ended, with its events; None keeps every call."""
    storage_url: str | None = field(default_factory=lambda: os.environ.get("ARKITEKT_STORAGE_URL"))
    """Where blobs live: `s3://bucket/prefix?endpoint_url=...&region=...`, or
    `file:///folder`; default: `blobs/` in the data directory."""
    reserved_disk: int = 1 << 30
    """Bytes of disk that blobs stored in a folder leave free (for the database and its
    journal); an upload that would use them is refused."""
    storage_quota: int | None = None
    """Bytes each user's blobs may hold; None: no limit. An upload that would pass it is
    refused, as it starts and again as it is stored: uploads side by side never pass it
    together."""

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'arkitekt.db'}"

    def check(self) -> None:
        """Raises ValueError when the settings cannot serve (production needs a secret)."""
        if not self.production:
            return
        if not self.admin_token:
            raise ValueError(
                "Production needs an explicit admin token: set ARKITEKT_ADMIN_TOKEN (or "
                "--admin-token-file) to a secret of at least "
                f"{MIN_SECRET_LENGTH} characters, e.g. from `openssl rand -hex 32`."
            )
        if len(self.admin_token) < MIN_SECRET_LENGTH or self.admin_token.strip() != (
            self.admin_token
        ):
            raise ValueError(
                f"The admin token must be at least {MIN_SECRET_LENGTH} characters, without "
                "surrounding blanks."
            )
