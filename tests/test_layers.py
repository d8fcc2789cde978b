"""Layers import downward only: the SDK never imports the server, the server never the SDK."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "arkitekt"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                package = path.relative_to(PACKAGE.parent).parent.parts
                base = package[: len(package) - node.level + 1]
                found.add(".".join((*base, node.module)))
            else:
                found.add(node.module)
    return found


def modules_of(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py")) if folder else sorted(PACKAGE.glob("*.py"))


@pytest.mark.parametrize("folder", ["api", "runtime"])
def test_the_sdk_does_not_import_the_server(folder: str) -> None:
    for path in modules_of(folder):
        assert not any(m.startswith("arkitekt.server") for m in imported_modules(path)), path


def test_the_server_does_not_import_the_sdk() -> None:
    for path in modules_of("server"):
        for module in imported_modules(path):
            assert not module.startswith(("arkitekt.runtime", "arkitekt.api", "arkitekt.cli")), (
                path,
                module,
            )


@pytest.mark.parametrize("module", ["arkitekt", "arkitekt.structures"])
def test_importing_arkitekt_stays_light(module: str) -> None:
    heavy = "('sqlalchemy', 'uvicorn', 'ariadne', 'rich', 'numpy', 'zarr', 'boto3')"
    code = f"import sys, {module}; print(','.join(m for m in {heavy} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == ""
