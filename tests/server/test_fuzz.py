"""A bounded fuzz run over the GraphQL API: schemathesis generates queries and mutations
from the SDL (fixed seed), and the platform must answer each with a coded error or data,
never a server error, and log no unexpected exception meanwhile."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from arkitekt.testing import RunningPlatform, running_server

ROOT = Path(__file__).parents[2]
CODES = {"UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "INVALID_INPUT", "CONFLICT", "LIMIT_EXCEEDED"}
WATCHED = ("arkitekt", "uvicorn.error", "ariadne")

schemathesis.graphql.scalar(
    "DateTime",
    st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1)).map(
        lambda moment: nodes.String(moment.isoformat())
    ),
)
schemathesis.graphql.scalar(
    "JSON",
    st.one_of(
        st.integers(-(2**31), 2**31).map(nodes.Int),
        st.text(max_size=20).map(nodes.String),
        st.booleans().map(nodes.Boolean),
        st.just(nodes.Null),
    ),
)
schema = schemathesis.graphql.from_file(
    "\n".join(path.read_text() for path in sorted((ROOT / "schema").glob("*.graphql")))
)


class Failures(logging.Handler):
    """Collects what the server logs at ERROR or above."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningPlatform, Failures]]:
    """A platform of its own (the fuzz run leaves odd users, nodes and agents behind),
    with a handler on the loggers that report unexpected errors."""
    failures = Failures()
    for name in WATCHED:
        logging.getLogger(name).addHandler(failures)
    try:
        with running_server(tmp_path_factory.mktemp("fuzzed")) as platform:
            yield platform, failures
    finally:
        for name in WATCHED:
            logging.getLogger(name).removeHandler(failures)
    assert not failures.records, [record.getMessage() for record in failures.records]


@schema.parametrize()
@seed(20261125)
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_generated_operation(
    case: schemathesis.Case, fuzzed: tuple[RunningPlatform, Failures]
) -> None:
    platform, failures = fuzzed
    response = case.call(
        base_url=f"{platform.url}/graphql",
        headers={"Authorization": f"Bearer {platform.token}"},
        timeout=30,
    )
    assert response.status_code < 500, response.text
    body = response.json()
    for error in body.get("errors") or []:
        assert error["extensions"]["code"] in CODES, error
    assert not failures.records, [record.getMessage() for record in failures.records]
