"""How much one GraphQL document may ask for, measured before it is validated or run.

A document is measured once (documents are cached) by walking its selections with
fragments expanded, memoized per fragment so that fragments spreading fragments cost
linear time, and cut short at a fragment cycle:

- depth: how deeply fields nest;
- cost: how many fields it asks for, counting each fragment spread as its fields;
- aliases: how many fields are renamed (aliases let a document repeat an expensive field);
- repeats: how often one field appears in one selection (directly, or through fragments),
  since checking that such fields agree costs time quadratic in their number.

Parsing itself is bounded by the document's length and its number of tokens; requests by
their size and the nesting of their JSON; websockets by the operations they run at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


@dataclass(frozen=True)
class Limits:
    length: int = 100_000
    """Characters in a document."""
    tokens: int = 10_000
    """Tokens in a document (names, punctuation, values)."""
    depth: int = 15
    """Levels of nested fields."""
    cost: int = 2_000
    """Fields asked for, fragments expanded."""
    aliases: int = 50
    """Aliased fields."""
    repeats: int = 10
    """Times one response key appears in one selection set, fragments included."""
    nesting: int = 64
    """Levels of nested lists and objects in a request's JSON (variables, arguments)."""
    request_size: int = 16 * 1024 * 1024
    """Bytes in an HTTP request's body or in one websocket message (blobs travel apart;
    agents report their events in batches well below it)."""
    operations: int = 1000
    """Operations one websocket runs at once (each `call` is one)."""
    object_size: int = 64 << 30
    """Bytes in one stored object (arrays are stored in chunks of 8 MiB, files whole)."""


@dataclass(frozen=True)
class Measure:
    depth: int = 0
    cost: int = 0
    aliases: int = 0
    repeats: int = 0

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            max(self.depth, other.depth),
            self.cost + other.cost,
            self.aliases + other.aliases,
            max(self.repeats, other.repeats),
        )


def limit_exceeded(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "LIMIT_EXCEEDED"})


class _Walk:
    def __init__(self, document: DocumentNode, limits: Limits) -> None:
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, tuple[Measure, Counter[str]]] = {}
        self.visiting: set[str] = set()

    def selections(self, selection_set: SelectionSetNode | None) -> Measure:
        measure, keys = self.level(selection_set)
        return measure + Measure(repeats=max(keys.values(), default=0))

    def level(self, selection_set: SelectionSetNode | None) -> tuple[Measure, Counter[str]]:
        """The measure of a selection set, and how often each response key appears at its
        top level (fragments merge into it)."""
        total, keys = Measure(), Counter[str]()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                inner = self.selections(selection.selection_set)
                alias = selection.alias is not None
                total += Measure(inner.depth + 1, inner.cost + 1, inner.aliases + alias)
                total += Measure(repeats=inner.repeats)
                keys[(selection.alias or selection.name).value] += 1
            else:
                if isinstance(selection, InlineFragmentNode):
                    measure, inner_keys = self.level(selection.selection_set)
                else:
                    assert isinstance(selection, FragmentSpreadNode)
                    measure, inner_keys = self.fragment(selection.name.value)
                total += measure
                keys.update(inner_keys)
            if total.cost > self.limits.cost:  # far enough: stop counting
                break
        return total, keys

    def fragment(self, name: str) -> tuple[Measure, Counter[str]]:
        if name in self.measured:
            return self.measured[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:
            return Measure(), Counter()  # unknown or cyclic: validation reports it
        self.visiting.add(name)
        self.measured[name] = self.level(definition.selection_set)
        self.visiting.discard(name)
        return self.measured[name]


def measure(document: DocumentNode, limits: Limits) -> Measure:
    walk = _Walk(document, limits)
    total = Measure()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            total += walk.selections(definition.selection_set)
    return total


def check(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """LIMIT_EXCEEDED errors for what the document asks beyond `limits`."""
    found = measure(document, limits)
    errors = []
    if found.depth > limits.depth:
        errors.append(limit_exceeded(f"The document nests fields deeper than {limits.depth}."))
    if found.cost > limits.cost:
        errors.append(limit_exceeded(f"The document asks for more than {limits.cost} fields."))
    if found.aliases > limits.aliases:
        errors.append(limit_exceeded(f"The document has more than {limits.aliases} aliases."))
    if found.repeats > limits.repeats:
        errors.append(
            limit_exceeded(f"A field appears more than {limits.repeats} times in one selection.")
        )
    return errors


def nesting(value: object) -> int:
    """How deeply a JSON value nests (iteratively: a hostile value cannot overflow the
    stack here, as it would in recursive code further on)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in item)
    return deepest
