"""Cached disclosure decisions give exactly the answers of deciding afresh, whatever changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auth.levels import Level
from service import migrate
from service.db import make_engine
from service.node.decision_cache import DecisionCache
from service.node.disclosure import DisclosurePolicy, LevelRule, Reason
from service.node.filters import CellFilter
from service.node.identity import init_node
from service.node.observations import CellPage, read_page
from service.settings import load_settings
from tests.node.conftest import NodeUnderTest, sex_table


def page(
    engine: Engine,
    level: Level,
    policy: DisclosurePolicy,
    cache: DecisionCache | None,
    first: int = 100,
) -> CellPage:
    with Session(engine) as session:
        return read_page(
            session,
            level=level,
            policy=policy,
            cell_filter=CellFilter(),
            first=first,
            decision_cache=cache,
        )


@pytest.fixture
def two_tables(test_node: NodeUnderTest) -> NodeUnderTest:
    test_node.load("counts", sex_table(female=(3, 3), male=(40, 40), total=(43, 43)))
    # The same indicator, area, period and unit in another dataset: the same table key.
    test_node.load("counts-too", sex_table(female=(30, 30), male=(40, 40), total=(70, 70)))
    return test_node


@pytest.mark.parametrize("level", list(Level))
def test_cached_answers_are_the_fresh_answers(two_tables: NodeUnderTest, level: Level) -> None:
    policy = DisclosurePolicy.from_settings(two_tables.settings)
    cache = DecisionCache()
    fresh = page(two_tables.engine, level, policy, None)
    first = page(two_tables.engine, level, policy, cache)
    assert len(cache) == 2  # one table key, two datasets: two tables
    again = page(two_tables.engine, level, policy, cache)
    assert fresh.cells == first.cells == again.cells
    # Paging through the cached tables decides each cell as the whole table did.
    assert [c for p in (1, 2) for c in _pages(two_tables.engine, level, policy, cache, p)] == [
        *fresh.cells,
        *fresh.cells,
    ]


def _pages(
    engine: Engine, level: Level, policy: DisclosurePolicy, cache: DecisionCache, first: int
) -> list[object]:
    cells: list[object] = []
    after = None
    while True:
        with Session(engine) as session:
            result = read_page(
                session,
                level=level,
                policy=policy,
                cell_filter=CellFilter(),
                first=first,
                after=after,
                decision_cache=cache,
            )
        cells.extend(result.cells)
        if not result.has_next_page:
            return cells
        after = result.end_cursor


def test_a_changed_policy_is_decided_afresh(two_tables: NodeUnderTest) -> None:
    cache = DecisionCache()
    loose = DisclosurePolicy.from_settings(two_tables.settings)
    strict = DisclosurePolicy(
        {level: LevelRule(level, threshold=100, rounding=1) for level in Level}
    )
    page(two_tables.engine, Level.PUBLIC, loose, cache)
    answer = page(two_tables.engine, Level.PUBLIC, strict, cache)
    assert answer.cells == page(two_tables.engine, Level.PUBLIC, strict, None).cells
    assert all(cell.suppression is Reason.BELOW_THRESHOLD for cell in answer.cells)


def test_a_new_version_is_decided_afresh(two_tables: NodeUnderTest) -> None:
    policy = DisclosurePolicy.from_settings(two_tables.settings)
    cache = DecisionCache()
    before = page(two_tables.engine, Level.PUBLIC, policy, cache)
    assert before.suppressed_count == 2
    two_tables.load("counts-too", sex_table(female=(4, 4), male=(40, 40), total=(44, 44)))
    after = page(two_tables.engine, Level.PUBLIC, policy, cache)
    assert after.cells == page(two_tables.engine, Level.PUBLIC, policy, None).cells
    assert after.suppressed_count == 4


def test_another_database_with_the_same_version_ids_is_decided_afresh(
    two_tables: NodeUnderTest, tmp_path: Path
) -> None:
    """As after a restore under a running node: version 1 and its ids now hold other cells."""
    url = f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    other_engine = make_engine(url)
    migrate.upgrade(other_engine, "node")
    settings = load_settings(database_url=url, key_file=tmp_path / "other-key.pem")
    init_node(other_engine, settings, name="Other", organisation="Test ICSO", node_id="other")
    other = NodeUnderTest(settings=settings, engine=other_engine, folder=tmp_path)
    # Same slugs, same order, same ids: only the figures differ.
    other.load("counts", sex_table(female=(30, 30), male=(40, 40), total=(70, 70)))
    other.load("counts-too", sex_table(female=(3, 3), male=(40, 40), total=(43, 43)))
    try:
        policy = DisclosurePolicy.from_settings(two_tables.settings)
        cache = DecisionCache()
        mine = page(two_tables.engine, Level.PUBLIC, policy, cache)
        theirs = page(other_engine, Level.PUBLIC, policy, cache)
        assert [c.id for c in mine.cells] == [c.id for c in theirs.cells]
        assert theirs.cells == page(other_engine, Level.PUBLIC, policy, None).cells
        assert [c.suppressed for c in mine.cells] != [c.suppressed for c in theirs.cells]
    finally:
        other_engine.dispose()


def test_the_cache_is_bounded_by_cells(two_tables: NodeUnderTest) -> None:
    policy = DisclosurePolicy.from_settings(two_tables.settings)
    cache = DecisionCache(max_cells=4)
    answer = page(two_tables.engine, Level.PUBLIC, policy, cache)
    assert len(cache) == 1 and cache.cells == 3  # two tables of three cells: one fits
    assert answer.cells == page(two_tables.engine, Level.PUBLIC, policy, None).cells
    none_fit = DecisionCache(max_cells=2)
    page(two_tables.engine, Level.PUBLIC, policy, none_fit)
    assert len(none_fit) == 0
