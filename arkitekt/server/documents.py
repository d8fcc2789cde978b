"""Parsed and validated documents, cached: clients send the same few operations over and
over, and parsing plus validation would otherwise dominate a small request's cost.

A document is measured against the `Limits` before the schema's rules validate it, so that
a hostile one (too long, too deep, too many fields or aliases) is refused in time linear
in its length.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    parse,
    validate,
)

from .limits import Limits, check, limit_exceeded

CACHE_SIZE = 512


class DocumentCache:
    def __init__(self, size: int = CACHE_SIZE, limits: Limits | None = None) -> None:
        self.size = size
        self.limits = limits or Limits()
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()
        self._errors: dict[int, tuple[DocumentNode, list[GraphQLError]]] = {}

    def parse(self, context: Any, data: dict[str, Any]) -> DocumentNode:
        query = data["query"]
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
            return document
        if len(query) > self.limits.length:
            raise limit_exceeded(f"The document is longer than {self.limits.length} characters.")
        try:
            document = parse(query, max_tokens=self.limits.tokens)
        except RecursionError:  # the parser recurses once per level of nesting
            raise limit_exceeded("The document nests too deeply to read.") from None
        except GraphQLSyntaxError as error:
            if "tokens" in error.message and "Parsing aborted" in error.message:
                raise limit_exceeded(
                    f"The document has more than {self.limits.tokens} tokens."
                ) from None
            raise
        self._documents[query] = document
        if len(self._documents) > self.size:
            _, evicted = self._documents.popitem(last=False)
            self._errors.pop(id(evicted), None)
        return document

    def validate(
        self,
        schema: GraphQLSchema,
        document_ast: DocumentNode,
        rules: Collection[type[ASTValidationRule]] | None = None,
        max_errors: int | None = None,
        type_info: Any = None,
    ) -> list[GraphQLError]:
        cached = self._errors.get(id(document_ast))
        if cached is not None and cached[0] is document_ast:
            return cached[1]
        errors = check(document_ast, self.limits) or validate(
            schema, document_ast, rules=rules, max_errors=max_errors
        )
        if any(document is document_ast for document in self._documents.values()):
            self._errors[id(document_ast)] = (document_ast, errors)
        return errors
