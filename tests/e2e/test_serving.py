"""Serving from a script or a notebook: `client.serve()` shares what the process defines,
and follows it as a notebook's cells define functions again."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import arkitekt
from arkitekt import RegistrationError, Registry
from arkitekt.api.enums import AgentStatus
from arkitekt.runtime.caller import _session_name
from arkitekt.runtime.registry import _current_registry
from arkitekt.testing import RunningPlatform

CELL = '''
from arkitekt import register

@register
def {name}(x: int) -> int:
    """A notebook's function."""
    return x + {bonus}
'''


@pytest.fixture
def session() -> Iterator[Registry]:
    """The registry `@register` fills, as a fresh process's would be."""
    registry = Registry()
    token = _current_registry.set(registry)
    yield registry
    _current_registry.reset(token)


class Notebook:
    """Runs cells as Jupyter does: each version of a cell compiles from a file of its own."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__"}
        self.runs = 0

    def run(self, cell: str, *, same_file: bool = False) -> None:
        self.runs += 0 if same_file else 1
        code = compile(cell, f"/tmp/ipykernel_0/cell-{self.runs}.py", "exec")
        exec(code, self.namespace)


async def wait_for_result(
    client: arkitekt.Client, name: str, x: int | None, expected: object
) -> None:
    """Until a call by name gives `expected`: the agent offers a cell's changes at once,
    in the background."""
    async with asyncio.timeout(10):
        while True:
            with contextlib.suppress(arkitekt.TargetError):  # a new function, not there yet
                arguments = {} if x is None else {"x": x}
                if await client.call(name, **arguments) == expected:
                    return
            await asyncio.sleep(0.05)


async def test_a_notebook_serves_what_it_defines_and_follows_its_cells(
    client: arkitekt.Client, session: Registry
) -> None:
    name, notebook = f"nb_{uuid.uuid4().hex[:8]}", Notebook()
    notebook.run(CELL.format(name=name, bonus=1))
    agent = await client.serve(name=f"notebook-{name}")
    assert repr(agent) == f"<Agent notebook-{name} {agent.id}: serving 1 function>"
    assert await client.call(name, x=1) == 2

    notebook.run(CELL.format(name=name, bonus=100))  # the cell, edited and run again
    await wait_for_result(client, name, 1, 101)
    notebook.run(CELL.format(name=f"{name}_more", bonus=5))  # a new cell
    await wait_for_result(client, f"{name}_more", 1, 6)

    changed = CELL.format(name=name, bonus=1).replace("(x: int)", "(x: int, y: int = 7)")
    notebook.run(changed.replace("x + 1", "x + y"))  # a new signature: a new node
    await wait_for_result(client, name, 1, 8)
    versions = await client.api.nodes(name=name)
    assert sorted(node.superseded for node in versions) == [False, True]

    # Two definitions of one name in one file are a mistake, not an edit.
    with pytest.raises(RegistrationError, match="already registered"):
        notebook.run(CELL.format(name=name, bonus=2) + "\n\n" + CELL.format(name=name, bonus=3))

    await agent.close()
    assert repr(agent).endswith(": closed>")
    (listed,) = [a for a in await client.api.agents() if a.id == agent.id]
    assert listed.status is AgentStatus.DISCONNECTED


async def test_serving_again_after_a_restart_is_the_same_agent(
    server: RunningPlatform, session: Registry
) -> None:
    def triple(x: int) -> int:
        return 3 * x

    name = f"script-{uuid.uuid4().hex[:8]}"
    ids = []
    for _ in range(2):  # a kernel started, stopped and started again
        async with arkitekt.connect(server.url, server.token) as client:
            agent = await client.serve(triple, name=name)
            assert await client.call(triple, 2) == 6
            ids.append(agent.id)
            with pytest.raises(RuntimeError, match=f"This client serves {name} already"):
                await client.serve(triple, name=name)
        assert agent.closed, "closing the client stops what it served"
    assert ids[0] == ids[1]


def test_a_plain_script_serves_in_the_background(server: RunningPlatform) -> None:
    def halve(x: float) -> float:
        return x / 2

    with arkitekt.connect(server.url, server.token) as client:
        assert repr(client) == f"<BlockingClient {server.url}>"
        agent = client.serve(halve, name=f"script-{uuid.uuid4().hex[:8]}")
        assert repr(agent).startswith("<BlockingAgent script-")
        assert client.call(halve, 3.0) == 1.5
        agent.close()
        assert agent.closed
        with pytest.raises(arkitekt.AssignationTimeoutError):
            client.call(halve, 1.0, timeout=0.5)  # nobody serves it now: it waits, queued


STARTUP_CELL = """
from collections.abc import Iterator

from arkitekt import startup

@startup
def model() -> Iterator[str]:
    opened.append("{weights}")
    yield "{weights}"
    closed.append("{weights}")
"""
USES_IT = '''
from arkitekt import register

@register
def {name}() -> str:
    """Which weights the model has."""
    return model()
'''


async def test_a_notebooks_startup_run_again_replaces_the_one_before(
    client: arkitekt.Client, session: Registry
) -> None:
    name, notebook = f"nb_{uuid.uuid4().hex[:8]}", Notebook()
    notebook.namespace |= {"opened": [], "closed": []}
    notebook.run(STARTUP_CELL.format(weights="v1"))
    notebook.run(USES_IT.format(name=name))
    agent = await client.serve(name=f"notebook-{name}")
    assert await client.call(name) == "v1"

    notebook.run(STARTUP_CELL.format(weights="v2"))
    await wait_for_result(client, name, None, "v2")
    assert notebook.namespace["opened"] == ["v1", "v2"]
    assert notebook.namespace["closed"] == ["v1"], "the one it replaced is closed first"
    assert len(session.startups) == 1
    await agent.close()
    assert notebook.namespace["closed"] == ["v1", "v2"]


def test_the_app_is_named_after_its_script_or_its_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    script = types.ModuleType("__main__")
    script.__file__ = "/lab/count_cells.py"
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert _session_name() == "count_cells"

    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # a kernel
    monkeypatch.setenv("JPY_SESSION_NAME", "/lab/notebooks/segment cells.ipynb")
    assert _session_name() == "segment cells"
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert _session_name() == "notebook"
