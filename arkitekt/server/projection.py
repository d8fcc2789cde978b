"""Subscription events projected straight onto the operation's selection.

graphql-core executes each event of a subscription field by field, with two tasks and a wait
per event; on a call, that was the server's largest cost. Our subscriptions yield plain data
(dicts whose keys are the fields), so a subscription operation is compiled once into a
function from an event to the response's data.

The projection is graphql-core's result or nothing: a selection it does not cover (fragments
on other types, directives, arguments below the root, custom resolvers) is not compiled, and
an event it cannot project exactly (a null in a non-null field, a value a scalar refuses)
raises `Unprojectable`, and graphql-core executes that event instead, errors and all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    get_operation_ast,
    is_leaf_type,
)
from graphql.pyutils import is_awaitable

Project = Callable[[Any], Any]


class Unprojectable(Exception):
    """This event needs graphql-core's execution."""


def each_event(source: Any, _info: Any, /, **_: Any) -> Any:
    """A subscription field's resolver: each value its source yields is the event itself."""
    return source


def compile_projection(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> Project | None:
    """The operation's response data as a function of one event, or None when the operation
    is not a subscription whose events this module can project."""
    operation = get_operation_ast(document, operation_name)
    root = schema.subscription_type
    if operation is None or operation.operation != OperationType.SUBSCRIPTION or root is None:
        return None
    fields = _fields(document, root, operation.selection_set)
    if fields is None or len(fields) != 1:
        return None
    ((key, node),) = fields.items()
    definition = root.fields.get(node.name.value)
    if definition is None or definition.resolve is not each_event:
        return None
    output = _output(document, definition.type, node)
    if output is None:
        return None

    def project(event: Any) -> Any:
        return {key: output(event)}

    return project


def _fields(
    document: DocumentNode, parent: GraphQLObjectType, selections: SelectionSetNode | None
) -> dict[str, FieldNode] | None:
    """The selection's fields by response key, fragments flattened; None where graphql-core
    would have to merge or skip something."""
    if selections is None:
        return None
    fields: dict[str, FieldNode] = {}
    for selection in selections.selections:
        if selection.directives:
            return None
        if isinstance(selection, FieldNode):
            nested = {(selection.alias or selection.name).value: selection}
        else:
            inner = _fragment(document, parent, selection)
            if inner is None:
                return None
            nested = inner
        if fields.keys() & nested.keys():
            return None
        fields.update(nested)
    return fields


def _fragment(
    document: DocumentNode,
    parent: GraphQLObjectType,
    selection: Any,
) -> dict[str, FieldNode] | None:
    condition: Any
    if isinstance(selection, FragmentSpreadNode):
        fragment = next(
            (
                definition
                for definition in document.definitions
                if isinstance(definition, FragmentDefinitionNode)
                and definition.name.value == selection.name.value
            ),
            None,
        )
        if fragment is None or fragment.directives:
            return None
        condition, selection_set = fragment.type_condition, fragment.selection_set
    elif isinstance(selection, InlineFragmentNode):
        condition, selection_set = selection.type_condition, selection.selection_set
    else:
        return None
    if condition is not None and condition.name.value != parent.name:
        return None
    return _fields(document, parent, selection_set)


def _output(document: DocumentNode, type_: GraphQLOutputType, node: FieldNode) -> Project | None:
    """Completes a resolved value as graphql-core would, for one field's type."""
    if isinstance(type_, GraphQLNonNull):
        return _non_null(_output(document, type_.of_type, node))
    if isinstance(type_, GraphQLList):
        return _list(_output(document, type_.of_type, node))
    if is_leaf_type(type_):
        return None if node.selection_set else _leaf(type_)  # type: ignore[arg-type]
    if isinstance(type_, GraphQLObjectType) and type_.is_type_of is None:
        return _object(document, type_, node)
    return None  # interfaces and unions resolve their type per value


def _non_null(inner: Project | None) -> Project | None:
    if inner is None:
        return None

    def non_null(value: Any) -> Any:
        if value is None:
            raise Unprojectable
        return inner(value)

    return non_null


def _list(item: Project | None) -> Project | None:
    if item is None:
        return None

    def listed(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            raise Unprojectable
        return [item(element) for element in value]

    return listed


def _leaf(type_: GraphQLLeafType) -> Project:
    serialize = type_.serialize

    def leaf(value: Any) -> Any:
        if value is None:
            return None
        try:
            serialized = serialize(value)
        except Exception:
            raise Unprojectable from None
        if serialized is None or serialized is Undefined:
            raise Unprojectable
        return serialized

    return leaf


def _object(document: DocumentNode, type_: GraphQLObjectType, node: FieldNode) -> Project | None:
    fields = _fields(document, type_, node.selection_set)
    if fields is None:
        return None
    typename = type_.name
    readers: list[tuple[str, str | None, Project]] = []
    for key, field in fields.items():
        name = field.name.value
        if name == "__typename":
            readers.append((key, None, lambda _: typename))
            continue
        definition = type_.fields.get(name)
        if definition is None or field.arguments:
            return None
        source_key = _source_key(name, definition.resolve)
        output = _output(document, definition.type, field)
        if source_key is None or output is None:
            return None
        readers.append((key, source_key, output))

    def project(value: Any) -> Any:
        if value is None:
            return None
        mapping = isinstance(value, Mapping)
        data = {}
        for key, source_key, output in readers:
            if source_key is None:
                data[key] = output(None)
                continue
            field = value.get(source_key) if mapping else getattr(value, source_key, None)
            if callable(field) or is_awaitable(field):  # graphql-core would call or await it
                raise Unprojectable
            data[key] = output(field)
        return data

    return project


def _source_key(name: str, resolve: Any) -> str | None:
    """The key a field reads from its parent: its own name by default, or the one an ariadne
    alias resolver (snake case for camelCase fields) reads. None for any other resolver."""
    if resolve is None:
        return name
    if getattr(resolve, "_ariadne_alias_resolver", False) and resolve.__closure__:
        cells = dict(zip(resolve.__code__.co_freevars, resolve.__closure__, strict=True))
        if "attr_name" in cells:
            attr = cells["attr_name"].cell_contents
            return attr if isinstance(attr, str) else None
    return None
