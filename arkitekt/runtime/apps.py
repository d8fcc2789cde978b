"""Loading an app: a Python file whose `@register` calls fill a fresh registry."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from arkitekt.errors import ArkitektError

from .registry import Registry, _current_registry


class AppError(ArkitektError):
    """The app file cannot be loaded; the message shows where and why."""


def app_name(path: Path) -> str:
    return path.stem if path.name != "__init__.py" else path.parent.name


def load_app(path: Path | str) -> Registry:
    """Imports the file as a fresh module and returns the functions it registered.

    Raises:
        AppError: The file is missing, or importing it raised (a syntax error, an
            import error, a RegistrationError): the message carries the cause.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise AppError(f"No app file at {path}.")
    registry = Registry(collecting=True)
    token = _current_registry.set(registry)
    module_name = f"arkitekt_app_{app_name(path)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AppError(f"{path} is not a Python file.")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.path.insert(0, folder)  # the app's own modules import as in `python app.py`
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ArkitektError as error:
        raise AppError(f"{path.name}: {error}") from error
    except Exception as error:
        raise AppError(f"{path.name} failed to import: {type(error).__name__}: {error}") from error
    finally:
        _current_registry.reset(token)
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    if len(registry.refused) == 1:
        raise AppError(f"{path.name}: {registry.refused[0]}") from registry.refused[0]
    if registry.refused:
        listed = "".join(f"\n  {error}" for error in registry.refused)
        raise AppError(
            f"{path.name}: {len(registry.refused)} functions cannot be registered:{listed}"
        )
    if not len(registry):
        raise AppError(f"{path.name} registers no functions; decorate them with @register.")
    return registry
