"""Binds the SDL in `schema/` to one resolver module per GraphQL type."""

from __future__ import annotations

from pathlib import Path

from ariadne import load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema

from . import (
    agents,
    assignations,
    base,
    deployments,
    hosts,
    nodes,
    releases,
    reservations,
    teams,
    tokens,
    users,
)


def schema_dir() -> Path:
    packaged = Path(__file__).parents[1] / "schema"  # wheels ship the SDL here
    return packaged if packaged.is_dir() else Path(__file__).parents[3] / "schema"


def build_schema() -> GraphQLSchema:
    type_defs = load_schema_from_path(str(schema_dir()))
    return make_executable_schema(
        type_defs,
        *base.bindables,
        *nodes.bindables,
        *agents.bindables,
        *reservations.bindables,
        *assignations.bindables,
        *users.bindables,
        *teams.bindables,
        *tokens.bindables,
        *releases.bindables,
        *hosts.bindables,
        *deployments.bindables,
        convert_names_case=True,
    )
