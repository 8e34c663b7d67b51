"""A statement's rows belong to its caller: the lake is one connection shared by every thread of
a process (the span sink commits beside the API's reads), so each statement gets a cursor."""

from __future__ import annotations

from pathlib import Path

from auraison.lakehouse.catalog import Lake
from auraison.settings import Settings


def test_rows_fetched_later_are_the_statements_own(tmp_path: Path) -> None:
    """A second statement before the first's rows are fetched does not replace them."""
    lake = Lake(Settings(home=tmp_path))
    try:
        first = lake.execute("SELECT 1 AS a UNION ALL SELECT 2 ORDER BY a")
        second = lake.execute("SELECT 'other' AS b")
        assert first.fetchall() == [(1,), (2,)]
        assert second.fetchone() == ("other",)
    finally:
        lake.close()
