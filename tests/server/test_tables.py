"""Column types: timestamps are stored in SQLite's DATETIME text and read back in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from arkitekt.server.tables import UTCDateTime

zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9.5))])
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
)


@given(moments)
def test_sqlite_text_is_sqlalchemys_own(moment: datetime) -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None
    assert theirs is not None
    assert ours(moment) == theirs(moment.astimezone(UTC).replace(tzinfo=None))


def test_a_moment_in_any_zone_reads_back_the_same_in_utc(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'times.db'}")
    table = sa.Table("times", sa.MetaData(), sa.Column("at", UTCDateTime()))
    table.metadata.create_all(engine)
    moments = [
        datetime(2026, 12, 5, 22, 0, tzinfo=timezone(timedelta(hours=2))),  # no microseconds
        datetime(2026, 12, 5, 20, 0, 0, 123, tzinfo=UTC),
    ]
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"at": moment} for moment in moments])
        stored = connection.execute(sa.select(table.c.at)).scalars().all()
    assert stored == moments
    assert all(moment.tzinfo is UTC for moment in stored)
    engine.dispose()
