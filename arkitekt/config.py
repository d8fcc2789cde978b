"""Where clients find the platform: the config file `arkitekt server` writes, and overrides.

Precedence: explicit arguments, then `ARKITEKT_URL` / `ARKITEKT_TOKEN`, then the config file
(`ARKITEKT_CONFIG`, default `~/.config/arkitekt/config.json`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str | None


def config_path() -> Path:
    if "ARKITEKT_CONFIG" in os.environ:
        return Path(os.environ["ARKITEKT_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "arkitekt" / "config.json"


def data_dir() -> Path:
    """This machine's arkitekt data: the server's database and blobs, a host's releases."""
    if "ARKITEKT_DATA_DIR" in os.environ:
        return Path(os.environ["ARKITEKT_DATA_DIR"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "arkitekt"


def read_config_file(path: Path | None = None) -> dict[str, str]:
    path = path or config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"Cannot read the config file {path}: {error}") from error
    if not isinstance(data, dict):
        raise ConfigurationError(f"The config file {path} does not hold a JSON object.")
    return {str(k): str(v) for k, v in data.items() if v is not None}


def write_config_file(
    url: str, token: str, path: Path | None = None, *, data: Path | None = None
) -> Path:
    """Writes the client config, readable by its owner only (it holds a token); `data` is
    the data directory of the platform it is for (`platform_data`)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # A file that existed keeps its mode through open(): narrow it before the token is in it.
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        written = {"url": url, "token": token}
        if data is not None:
            written["data_dir"] = str(data.resolve())
        json.dump(written, file, indent=2)
    return path


def platform_data(stored: dict[str, str]) -> Path | None:
    """The data directory of the platform a config is for; None for no config. (One that
    does not say is the default's, which every config was before configs said.)"""
    if not stored:
        return None
    return Path(stored["data_dir"]) if "data_dir" in stored else data_dir().resolve()


def resolve_config(url: str | None = None, token: str | None = None) -> ClientConfig:
    """The URL and token to use, or a ConfigurationError that says how to provide them."""
    url = url or os.environ.get("ARKITEKT_URL")
    token = token or os.environ.get("ARKITEKT_TOKEN")
    if not (url and token):
        stored = read_config_file()
        url = url or stored.get("url")
        token = token or stored.get("token")
    if not url:
        raise ConfigurationError(
            f"No arkitekt server configured: start one with `arkitekt server` (it writes "
            f"{config_path()}), or set ARKITEKT_URL and ARKITEKT_TOKEN."
        )
    return ClientConfig(url=url, token=token)
