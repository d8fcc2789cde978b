"""Calls through a real server and a real agent, over real sockets."""

from __future__ import annotations

import asyncio
import gc
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from enum import Enum
from typing import Literal

import numpy as np
import pytest

import arkitekt
from arkitekt.api.enums import AssignationEventKind
from arkitekt.runtime.caller import AHEAD
from arkitekt.testing import serving


class Channel(Enum):
    DAPI = "dapi"
    GFP = "gfp"


def echo_int(x: int) -> int:
    return x


def echo_float(x: float) -> float:
    return x


def echo_str(x: str) -> str:
    return x


def echo_bool(x: bool) -> bool:
    return x


def echo_enum(x: Channel) -> Channel:
    assert isinstance(x, Channel)
    return x


def echo_literal(x: Literal["fast", "slow"]) -> str:
    return x


def echo_list(x: list[int]) -> list[int]:
    return x


def echo_dict(x: dict[str, list[float]]) -> dict[str, list[float]]:
    return x


def echo_optional(x: int | None) -> int | None:
    return x


def with_defaults(
    a: int, b: int = 10, channel: Channel = Channel.GFP, note: str | None = None
) -> str:
    return f"{a}+{b} {channel.name} {note}"


async def async_double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def nothing(x: int) -> None:
    return None


def split(x: int) -> tuple[int, str]:
    return x // 2, "even" if x % 2 == 0 else "odd"


CASES = [
    (echo_int, 42),
    (echo_int, -(2**40)),
    (echo_float, 2.5),
    (echo_str, "héllo [wörld]"),
    (echo_bool, True),
    (echo_bool, False),
    (echo_enum, Channel.DAPI),
    (echo_literal, "slow"),
    (echo_list, [1, 2, 3]),
    (echo_list, []),
    (echo_dict, {"a": [1.0, 2.5], "b": []}),
    (echo_optional, None),
    (echo_optional, 7),
    (async_double, 21),
]


@pytest.mark.parametrize(("function", "value"), CASES, ids=lambda c: getattr(c, "__name__", None))
async def test_each_port_kind_round_trips_through_an_agent(
    client: arkitekt.Client, function: object, value: object
) -> None:
    async with serving(client, function):  # type: ignore[arg-type]
        result = await client.call(function, value)  # type: ignore[arg-type]
    expected = 42 if function is async_double else value
    assert result == expected
    assert type(result) is type(expected)


async def test_defaults_and_omitted_nullable_arguments(client: arkitekt.Client) -> None:
    async with serving(client, with_defaults):
        assert await client.call(with_defaults, a=1) == "1+10 GFP None"
        assert await client.call(with_defaults, 1, 2, Channel.DAPI, "x") == "1+2 DAPI x"


async def test_several_and_no_return_values(client: arkitekt.Client) -> None:
    async with serving(client, split, nothing):
        assert await client.call(split, 7) == (3, "odd")
        assert await client.call(nothing, 1) is None


async def count(to: int) -> AsyncIterator[int]:
    for n in range(to):
        yield n


def count_sync(to: int) -> Iterator[int]:
    yield from range(to)


@pytest.mark.parametrize("generator", [count, count_sync])
async def test_a_generator_streams_in_order(client: arkitekt.Client, generator: object) -> None:
    async with serving(client, generator):  # type: ignore[arg-type]
        values = [n async for n in client.stream(generator, to=50)]  # type: ignore[arg-type]
        assert values == list(range(50))
        assert await client.call(generator, to=3) == [0, 1, 2]  # type: ignore[arg-type]


def explode(message: str) -> int:
    raise KeyError(message)


async def test_an_exception_arrives_as_error_with_type_and_message(
    client: arkitekt.Client,
) -> None:
    async with serving(client, explode) as agent:
        with pytest.raises(arkitekt.RemoteError) as caught:
            await client.call(explode, "no such channel")
        assert agent.statistics().failed == 1
    error = caught.value
    assert error.type == "KeyError"
    assert error.message == "'no such channel'"
    assert "in explode" in error.traceback
    assert "raise KeyError(message)" in error.traceback
    first_frame = error.traceback.splitlines()[1]
    assert "in explode" in first_frame, "from the function's own frame: none of the platform's"


def counts(n: int) -> list[int]:
    return np.arange(n)  # type: ignore[return-value]  # numpy, as analysis code returns


def misfit(as_text: bool) -> tuple[int, list[int]]:
    return (1, [2, "three" if as_text else 3])  # type: ignore[list-item]


def mislabelled(x: int) -> int:
    return str(x)  # type: ignore[return-value]


def forgot_to_await(x: int) -> int:
    return arkitekt.call(echo_int, x)  # type: ignore[return-value]


async def test_a_sync_function_returning_a_coroutine_is_told_how_to_call(
    client: arkitekt.Client,
) -> None:
    async with serving(client, echo_int, forgot_to_await):
        with pytest.raises(arkitekt.RemoteError) as caught:
            await client.call(forgot_to_await, 4)  # and no "never awaited" warning
    assert caught.value.type == "TypeError"
    assert "forgot_to_await returned a coroutine" in caught.value.message
    assert "with arkitekt.current_client() as client:" in caught.value.message


async def test_results_are_checked_against_the_signature(client: arkitekt.Client) -> None:
    async with serving(client, counts, misfit, mislabelled):
        assert await client.call(counts, 3) == [0, 1, 2], "numpy values fit their ports"
        assert await client.call(misfit, False) == (1, [2, 3])
        with pytest.raises(arkitekt.RemoteError) as wrong:
            await client.call(misfit, True)
        with pytest.raises(arkitekt.RemoteError) as single:
            await client.call(mislabelled, 4)
    assert wrong.value.type == "TypeError"
    assert wrong.value.message == (
        "misfit's result does not fit its signature: return1[1]: expected an int, got str 'three'"
    )
    assert single.value.message == (
        "mislabelled's result does not fit its signature: return: expected an int, got str '4'"
    )
    assert single.value.traceback == "", "no frame of the function's led to it"


async def test_events_are_ordered_and_end_with_one_terminal_event(client: arkitekt.Client) -> None:
    async with serving(client, count):
        assignation = await client.assign(count, to=3)
        events = [event async for event in assignation.events()]
    kinds = [event.kind for event in events]
    # The yields may travel merged (they queue up while the agent reports): one or more
    # YIELD events carry 0, 1, 2 in order.
    assert kinds[0] is AssignationEventKind.ASSIGNED
    assert set(kinds[1:-1]) == {AssignationEventKind.YIELD}
    assert kinds[-1] is AssignationEventKind.DONE
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert [value for event in events for value in event.yields] == [0, 1, 2]


async def test_bad_calls_fail_before_reaching_the_agent(client: arkitekt.Client) -> None:
    async with serving(client, echo_int) as agent:
        with pytest.raises(arkitekt.TargetError, match="No node named 'no_such_function'"):
            await client.call("no_such_function", x=1)
        with pytest.raises(arkitekt.ArgumentError, match="expected an int, got str 'one'") as wrong:
            await client.call(echo_int, x="one")
        assert wrong.value.port == "x"
        with pytest.raises(arkitekt.ArgumentError, match="missing argument") as missing:
            await client.call(echo_int)
        assert missing.value.port == "x"
        with pytest.raises(arkitekt.ArgumentError, match="unknown argument") as unknown:
            await client.call(echo_int, x=1, y=2)
        assert unknown.value.port == "y"
        assert agent.statistics() == arkitekt.AgentStatistics(0, 0, 0, 0)
        assert await client.call(echo_int, x=5) == 5


async def test_the_agent_checks_arguments_sent_by_other_clients(client: arkitekt.Client) -> None:
    """A client that skips validation still cannot hand the function a wrong type."""
    async with serving(client, echo_int):
        node = await client.node(echo_int)
        raw = await client.api.assign(node=node.id, args={"x": "one"})
        assignation = arkitekt.Assignation(client, node, raw.id)
        with pytest.raises(arkitekt.RemoteError, match="x: expected an int") as caught:
            await assignation.result()
    assert caught.value.type == "ArgumentError"


async def test_a_call_waits_queued_until_an_agent_connects(client: arkitekt.Client) -> None:
    async with serving(client, echo_str, name="first"):
        node = await client.node(echo_str)
    assignation = await client.assign(node, "queued")
    events = assignation.events()
    first = await anext(events)
    assert first.kind is AssignationEventKind.QUEUED
    async with serving(client, echo_str, name="second"):
        assert await assignation.result() == "queued"
    await events.aclose()


async def test_names_find_nodes_and_hashes_match_the_server(client: arkitekt.Client) -> None:
    def uniquely_named_function(x: int) -> int:
        return x + 1

    async with serving(client, uniquely_named_function):
        node = await client.node("uniquely_named_function")
        assert node.hash == arkitekt.node_of(uniquely_named_function).hash
        assert await client.call("uniquely_named_function", x=1) == 2
        assert await client.call(node.hash, x=2) == 3


async def test_a_finished_call_closes_its_subscription_without_leftovers(
    client: arkitekt.Client,
) -> None:
    """Results and streams read their subscription to the server's end: no generator of the
    caller is left for the garbage collector to close (a task, a wake-up, a message each)."""
    left: list[str] = []
    firstiter, finalizer = sys.get_asyncgen_hooks()

    def counting(agen: object) -> None:
        code = getattr(agen, "ag_code", None)
        if code is not None and code.co_filename.endswith(("caller.py", "transport.py")):
            left.append(code.co_qualname)
        assert finalizer is not None
        finalizer(agen)

    sys.set_asyncgen_hooks(firstiter, counting)
    try:
        async with serving(client, echo_int, count):
            for i in range(3):
                assert await client.call(echo_int, i) == i
            assert [v async for v in client.stream(count, 3)] == [0, 1, 2]
            gc.collect()
            assert left == []
    finally:
        sys.set_asyncgen_hooks(firstiter, finalizer)


async def test_a_call_by_name_follows_a_new_version_that_lands_while_it_is_made(
    client: arkitekt.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"moving_{uuid.uuid4().hex[:8]}"

    def version(bonus: int, signature: str) -> arkitekt.Registry:
        namespace: dict[str, object] = {}
        exec(f"def moving(x: int{signature}) -> int:\n    return x + {bonus}\n", namespace)
        registry = arkitekt.Registry()
        registry.add(namespace["moving"], name=name)  # type: ignore[arg-type]
        return registry

    async with arkitekt.Agent(client, version(1, ""), name=name) as agent:
        assert await client.call(name, x=1) == 2
        found = client._by_node_name

        async def found_then_reloaded(name: str) -> arkitekt.Node:
            node = await found(name)
            monkeypatch.setattr(client, "_by_node_name", found)
            await agent.update(version(100, ", y: int = 0"))  # between finding and assigning
            return node

        monkeypatch.setattr(client, "_by_node_name", found_then_reloaded)
        assert await client.call(name, x=1, timeout=10) == 101


async def eventually(condition: Callable[[], bool]) -> bool:
    """Whether `condition` holds within five seconds: for what ends a moment later."""
    for _ in range(500):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


class Crowd:
    """How many calls of `crowded` run now, at most, and in all."""

    now = most = started = 0


async def crowded(x: int, fail_at: int = -1) -> int:
    Crowd.now += 1
    Crowd.started += 1
    Crowd.most = max(Crowd.most, Crowd.now)
    try:
        await asyncio.sleep(0.05 if x % 2 else 0.01)  # odd ones finish after the next even
        if x == fail_at:
            raise ValueError(f"no luck with {x}")
        return x * 10
    finally:
        Crowd.now -= 1


@pytest.fixture
def crowd() -> type[Crowd]:
    Crowd.now = Crowd.most = Crowd.started = 0
    return Crowd


async def test_map_calls_once_per_item_a_few_at_a_time_and_yields_in_order(
    client: arkitekt.Client, crowd: type[Crowd]
) -> None:
    async with serving(client, crowded):
        results = [r async for r in client.map(crowded, range(12), in_flight=3)]
        assert results == [x * 10 for x in range(12)]
        assert crowd.most == 3
        with pytest.raises(ValueError, match="in_flight must be at least 1, not 0"):
            await anext(client.map(crowded, range(3), in_flight=0))
        with pytest.raises(ValueError, match="iterables differ in length: one ended after 2"):
            [r async for r in client.map(crowded, range(3), [-1, -1])]


async def test_map_analyses_a_stream_as_it_arrives_and_stops_it_when_left(
    client: arkitekt.Client, crowd: type[Crowd]
) -> None:
    stopped = asyncio.Event()

    async def acquire() -> AsyncIterator[int]:
        try:
            for frame in range(1_000_000):
                await asyncio.sleep(0.005)
                yield frame
        finally:
            stopped.set()

    async with serving(client, crowded, count, acquire):
        fed = client.map(crowded, client.stream(count, 6), in_flight=2)
        assert [r async for r in fed] == [x * 10 for x in range(6)]

        frames = client.stream(acquire)  # held here: only map can close it
        async for result in client.map(crowded, frames, in_flight=3):
            if result == 50:
                break
        await asyncio.wait_for(stopped.wait(), 5)  # the acquisition was cancelled with it
        assert crowd.now == 0


async def test_map_yields_each_result_without_waiting_for_the_next_item(
    client: arkitekt.Client, crowd: type[Crowd]
) -> None:
    analysed = asyncio.Event()

    async def frames() -> AsyncIterator[int]:
        yield 1
        await asyncio.wait_for(analysed.wait(), 5)  # a microscope's next frame comes later
        yield 2

    async with serving(client, crowded):
        results = []
        async for result in client.map(crowded, frames()):
            results.append(result)
            analysed.set()
        assert results == [10, 20]


async def test_map_holds_a_bounded_number_of_results_for_a_slow_reader(
    client: arkitekt.Client, crowd: type[Crowd]
) -> None:
    async with serving(client, crowded):
        results = client.map(crowded, range(60), in_flight=2)
        assert await anext(results) == 0
        await asyncio.sleep(1)  # the reader is busy: at most AHEAD * 2 more are made
        assert crowd.started <= 1 + AHEAD * 2 + 1
        assert [r async for r in results] == [x * 10 for x in range(1, 60)]
        assert crowd.most == 2


async def test_map_raises_a_failure_in_its_turn_and_cancels_the_calls_still_running(
    client: arkitekt.Client, crowd: type[Crowd]
) -> None:
    got: list[int] = []

    async def collect() -> None:
        async for result in client.map(crowded, range(100), in_flight=4, fail_at=4):
            got.append(result)

    async with serving(client, crowded) as agent:
        with pytest.raises(arkitekt.RemoteError, match="no luck with 4"):
            await collect()
        assert got == [0, 10, 20, 30]
        assert crowd.now == 0, "the calls after it were cancelled, not left running"
        assert crowd.started < 20

        started = crowd.started
        async for result in client.map(crowded, range(100, 200), in_flight=4):
            if result == 1010:
                break  # leaving early cancels the rest, once the loop closes the generator
        assert await eventually(lambda: crowd.now == 0)
        assert crowd.started - started < 20, "no more started once the loop was left"
        assert crowd.most <= 4
        # Calls cancelled before they started are let go too.
        assert await eventually(lambda: agent.statistics().running == 0)
