"""How much one GraphQL document may ask for, measured before it is validated or run.

A document is measured once (documents are cached) by walking its selections with
fragments expanded, memoized per fragment so that fragments spreading fragments cost
linear time, and cut short at a fragment cycle:

- depth: how deeply fields nest;
- cost: how many fields it asks for, counting each fragment spread as its fields;
- aliases: how many fields are renamed (aliases let a document repeat an expensive field).

Parsing itself is bounded by the document's length and its number of tokens; requests by
their size and the nesting of their JSON; websockets by the operations they run at once.
"""

from __future__ import annotations

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
    nesting: int = 64
    """Levels of nested lists and objects in a request's JSON (variables, arguments)."""
    request_size: int = 1024 * 1024
    """Bytes in an HTTP request's body or in one websocket message (blobs travel apart)."""
    operations: int = 1000
    """Operations one websocket runs at once (each `call` is one)."""


@dataclass(frozen=True)
class Measure:
    depth: int = 0
    cost: int = 0
    aliases: int = 0

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            max(self.depth, other.depth), self.cost + other.cost, self.aliases + other.aliases
        )


def limit_exceeded(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "LIMIT_EXCEEDED"})


class _Walk:
    def __init__(self, document: DocumentNode, limits: Limits) -> None:
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, Measure] = {}
        self.visiting: set[str] = set()

    def selections(self, selection_set: SelectionSetNode | None) -> Measure:
        total = Measure()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                inner = self.selections(selection.selection_set)
                total += Measure(
                    inner.depth + 1, inner.cost + 1, inner.aliases + (selection.alias is not None)
                )
            elif isinstance(selection, InlineFragmentNode):
                total += self.selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
            if total.cost > self.limits.cost:  # far enough: stop counting
                return total
        return total

    def fragment(self, name: str) -> Measure:
        if name in self.measured:
            return self.measured[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:
            return Measure()  # unknown or cyclic: validation reports it
        self.visiting.add(name)
        measure = self.measured[name] = self.selections(definition.selection_set)
        self.visiting.discard(name)
        return measure


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
