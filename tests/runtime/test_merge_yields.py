"""An agent merges the yields that queued up between reports: nothing lost, reordered or
merged across another event."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arkitekt.api.enums import AssignationEventKind as Kind
from arkitekt.api.input_types import EventInput
from arkitekt.runtime.agent import MAX_MERGED_YIELDS, merge_yields

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


@given(reports())
def test_merging_keeps_every_yield_in_order(events: list[EventInput]) -> None:
    merged = merge_yields(events)
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
    (merged,) = merge_yields(events)
    assert merged.index == 7
    assert merged.yields == [[i] for i in range(1, 8)]
    assert events[0].yields == [[1]]  # the reported events are left as they were
