"""An agent merges the yields that queued up between reports: nothing lost, reordered or
merged across another event, and no report larger than the platform takes."""

from __future__ import annotations

import json
from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st

from arkitekt.api.enums import AssignationEventKind as Kind
from arkitekt.api.input_types import EventInput
from arkitekt.runtime import agent
from arkitekt.runtime.agent import (
    MAX_MERGED_YIELDS,
    MAX_REPORT,
    Sized,
    event_size,
    merge_yields,
    next_report,
)

kinds = st.sampled_from([Kind.YIELD, Kind.YIELD, Kind.YIELD, Kind.PROGRESS, Kind.LOG])


@st.composite
def reports(draw: st.DrawFn) -> list[EventInput]:
    """Events of a few assignations, each numbered from 1 as an agent numbers them."""
    events = []
    counts = {"a": 0, "b": 0}
    for assignation, kind in draw(st.lists(st.tuples(st.sampled_from("ab"), kinds), max_size=60)):
        counts[assignation] += 1
        index = counts[assignation]
        yields = [[index], [-index]] if kind is Kind.YIELD else None
        events.append(EventInput(assignation=assignation, index=index, kind=kind, yields=yields))
    return events


def per_assignation(events: list[EventInput]) -> dict[str, list[tuple[Kind, object]]]:
    """What a caller of each assignation sees: its events, yields one by one."""
    seen: dict[str, list[tuple[Kind, object]]] = {}
    for event in events:
        those = seen.setdefault(event.assignation, [])
        if event.kind is Kind.YIELD:
            those.extend((Kind.YIELD, y) for y in event.yields or [])
        else:
            those.append((event.kind, event.index))
    return seen


def sized(events: list[EventInput]) -> list[Sized]:
    return [(event, event_size(event)) for event in events]


@given(reports())
def test_merging_keeps_every_yield_in_order(events: list[EventInput]) -> None:
    merged = [event for event, _ in merge_yields(sized(events))]
    assert per_assignation(merged) == per_assignation(events)
    assert len(merged) <= len(events)
    for event in merged:
        assert len(event.yields or ()) <= MAX_MERGED_YIELDS + 1  # each event carries two
    # The index of a merged event is that of the last event merged into it.
    last = {}
    for event in merged:
        assert event.index > last.get(event.assignation, 0)
        last[event.assignation] = event.index
    assert last == {e.assignation: e.index for e in events}


def test_consecutive_yields_become_one_event() -> None:
    events = [
        EventInput(assignation="a", index=i, kind=Kind.YIELD, yields=[[i]]) for i in range(1, 8)
    ]
    ((merged, size),) = merge_yields(sized(events))
    assert merged.index == 7
    assert size == sum(event_size(event) for event in events)
    assert merged.yields == [[i] for i in range(1, 8)]
    assert events[0].yields == [[1]]  # the reported events are left as they were


SMALL_REPORT = 4096  # bytes: the same rules at a size a test builds quickly


@given(st.lists(st.integers(min_value=1, max_value=3 * SMALL_REPORT), max_size=40))
def test_reports_stay_within_their_size_unless_one_event_is_larger(sizes: list[int]) -> None:
    events = [
        EventInput(assignation="a", index=i, kind=Kind.YIELD, yields=[["x" * size]])
        for i, size in enumerate(sizes, 1)
    ]
    with patch.object(agent, "REPORT_BYTES", SMALL_REPORT):
        merged = merge_yields(sized(events))
        reports = []
        while merged:
            count = next_report(merged)
            assert 1 <= count <= MAX_REPORT
            reports.append(merged[:count])
            merged = merged[count:]
    sent = [event for report in reports for event, _ in report]
    assert [y for event in sent for y in event.yields or ()] == [e.yields[0] for e in events]
    for report in reports:
        assert sum(size for _, size in report) <= SMALL_REPORT or len(report) == 1
        # The estimate holds the JSON of what an event carries.
        for event, size in report:
            assert len(json.dumps(event.yields)) <= size
