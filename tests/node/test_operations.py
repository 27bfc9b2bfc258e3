"""What a node's operators see: ingests, the audit tail with its chain check, "see as" previews."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from auth.levels import Level
from service.errors import IngestError
from service.node import audit, operations
from service.node.datasets import set_levels
from service.node.disclosure import DisclosurePolicy, Reason
from service.node.filters import CellFilter
from service.node.observations import read_page
from tests.node.conftest import NodeUnderTest, sex_table
from tests.node.test_audit import _drop_guards


def _policy(node: NodeUnderTest) -> DisclosurePolicy:
    return DisclosurePolicy.from_settings(node.settings)


def test_recent_ingests_newest_first_with_rows_and_hash(test_node: NodeUnderTest) -> None:
    first = test_node.load("survey", sex_table(female=(40, 40), male=(30, 30), total=(70, 70)))
    rows = [
        *sex_table(female=(40, 40), male=(35, 35), total=(75, 75)),
        {"indicator": "9.9.9", "ref_area": "BGD", "time_period": "2022", "value": 1,
         "unit": "NUMBER", "n": 20},  # not an SDG indicator: refused, so the file is refused
    ]  # fmt: skip
    with pytest.raises(IngestError, match=r"9\.9\.9"):
        test_node.load("survey", rows)
    second = test_node.load("survey", sex_table(female=(41, 41), male=(35, 35), total=(76, 76)))
    test_node.load("other", sex_table(female=(20, 20), male=(20, 20), total=(40, 40)))

    with Session(test_node.engine) as session:
        ingests = operations.recent_ingests(session)
    assert [(i.dataset, i.version, i.current) for i in ingests] == [
        ("other", 1, True),
        ("survey", second.version, True),
        ("survey", first.version, False),
    ]
    latest_survey = ingests[1]
    assert latest_survey.version == 2  # the refused file left no version behind
    assert latest_survey.loaded_by == "test"
    assert latest_survey.source_file == "survey.csv"
    assert latest_survey.source_format == "tidy"
    assert latest_survey.rows_read == second.rows_read == 3
    assert latest_survey.rows_stored == second.rows_stored == 3
    assert latest_survey.rows_excluded == 0
    assert len(latest_survey.source_sha256) == 64
    assert latest_survey.source_sha256 != ingests[2].source_sha256
    with Session(test_node.engine) as session:
        assert len(operations.recent_ingests(session, limit=1)) == 1


def test_audit_tail_lists_newest_first_and_checks_the_chain(test_node: NodeUnderTest) -> None:
    test_node.load("survey", sex_table(female=(40, 40), male=(30, 30), total=(70, 70)))
    with Session(test_node.engine) as session, session.begin():
        for i in range(5):
            audit.append(
                session,
                audit.AuditRecord(caller=f"client-{i}", level="government", action="graphql",
                                  operation="{ observations { totalCount } }",
                                  cells_returned=10 + i, cells_suppressed=i),
            )  # fmt: skip
    with Session(test_node.engine) as session:
        tail = operations.audit_tail(session, limit=3, verify_all=True)
    assert tail.total == 6
    assert [line.seq for line in tail.entries] == [6, 5, 4]
    newest = tail.entries[0]
    assert (newest.caller, newest.level, newest.action) == ("client-4", "government", "graphql")
    assert (newest.cells_returned, newest.cells_suppressed) == (14, 4)
    assert all(line.intact for line in tail.entries)
    assert tail.ok and tail.full is not None and tail.full.entries == 6


@pytest.mark.parametrize(
    ("statement", "bad_seq", "problem"),
    [
        ("UPDATE audit_log SET cells_returned = 0 WHERE seq = 3", 3, "entry 3: altered"),
        ("DELETE FROM audit_log WHERE seq = 2", 3, "entry 2: missing"),
        ("DELETE FROM audit_log WHERE seq = 4", None, "removed: the log ends at entry 3"),
    ],
)
def test_audit_tail_finds_tampering(
    test_node: NodeUnderTest, statement: str, bad_seq: int | None, problem: str
) -> None:
    with Session(test_node.engine) as session, session.begin():
        for i in range(4):
            audit.append(session, audit.AuditRecord("c", "public", "graphql", f"q{i}", {}, i + 1))
    _drop_guards(test_node.engine)
    with test_node.engine.begin() as conn:
        conn.execute(text(statement))
    with Session(test_node.engine) as session:
        tail = operations.audit_tail(session, limit=10)
    assert not tail.ok
    assert any(problem in str(p) for p in tail.problems), tail.problems
    assert [line.seq for line in tail.entries if not line.intact] == ([bad_seq] if bad_seq else [])
    assert tail.full is None


def test_audit_tail_of_empty_log(test_node: NodeUnderTest) -> None:
    with Session(test_node.engine) as session:
        tail = operations.audit_tail(session)
    assert tail.entries == [] and tail.total == 0 and tail.ok


def _load_levels(node: NodeUnderTest) -> None:
    # Public: one small cell (n=3) and its complement; totals released.
    node.load("open", sex_table(female=(3, 3), male=(40, 40), total=(43, 43)))
    node.load("gov", sex_table(female=(20, 20), male=(22, 22), total=(42, 42)),
              release=Level.GOVERNMENT)  # fmt: skip
    # Coalition values, discoverable by anyone.
    node.load("coal", sex_table(female=(6, 6), male=(30, 30), total=(36, 36)),
              release=Level.COALITION, discovery=Level.PUBLIC)  # fmt: skip
    node.load("mine", sex_table(female=(1, 1), male=(2, 2), total=(3, 3)), release=Level.OWNER)


# caller level -> dataset -> (listed, values visible)
VISIBILITY = {
    Level.PUBLIC: {"open": (True, True), "gov": (False, False), "coal": (True, False),
                   "mine": (False, False)},
    Level.GOVERNMENT: {"open": (True, True), "gov": (True, True), "coal": (True, False),
                       "mine": (False, False)},
    Level.COALITION: {"open": (True, True), "gov": (True, True), "coal": (True, True),
                      "mine": (False, False)},
}  # fmt: skip


@pytest.mark.parametrize("level", operations.PREVIEW_LEVELS)
def test_see_as_lists_and_shows_what_the_level_reaches(
    test_node: NodeUnderTest, level: Level
) -> None:
    _load_levels(test_node)
    policy = _policy(test_node)
    with Session(test_node.engine) as session:
        preview = operations.see_as(session, level, policy)
        api_pages = {
            slug: read_page(session, level=level, policy=policy,
                            cell_filter=CellFilter(datasets=[slug]), first=100)
            for slug in VISIBILITY[level]
        }  # fmt: skip
    assert preview.level is level and preview.rule == policy.for_level(level)
    by_slug = {p.dataset.slug: p for p in preview.datasets}
    assert sorted(by_slug) == sorted(VISIBILITY[level])
    for slug, (listed, visible) in VISIBILITY[level].items():
        shown = by_slug[slug]
        assert (shown.listed, shown.values_visible) == (listed, visible), slug
        assert shown.coverage_cells == (3 if listed else 0)
        api = api_pages[slug]
        # The preview is the API's answer: same cells, same values, same suppressions.
        assert list(shown.sample) == list(api.cells)
        assert list(shown.suppressed_sample) == [cell for cell in api.cells if cell.suppressed]
        assert shown.cells_released + shown.cells_suppressed == api.total_count
        assert shown.cells_suppressed == api.suppressed_count
        assert shown.counted_all


def test_see_as_counts_suppressions_by_reason(test_node: NodeUnderTest) -> None:
    _load_levels(test_node)
    policy = _policy(test_node)
    with Session(test_node.engine) as session:
        public = {
            p.dataset.slug: p for p in operations.see_as(session, Level.PUBLIC, policy).datasets
        }
        coalition = {
            p.dataset.slug: p for p in operations.see_as(session, Level.COALITION, policy).datasets
        }
    open_public = public["open"]
    assert (open_public.cells_released, open_public.cells_suppressed) == (1, 2)
    assert open_public.reasons == {Reason.BELOW_THRESHOLD: 1, Reason.COMPLEMENTARY: 1}
    assert [cell.sex for cell in open_public.suppressed_sample] == ["F", "M"]
    assert all(cell.value is None for cell in open_public.suppressed_sample)
    female = next(cell for cell in open_public.sample if cell.sex == "F")
    assert female.value is None and female.suppression is Reason.BELOW_THRESHOLD
    total = next(cell for cell in open_public.sample if cell.sex == "_T")
    assert total.value == 45.0  # 43 rounded to base 5 at public level
    # Coalition's threshold is 5: the n=6 cell of the coalition dataset is released there.
    coal = coalition["coal"]
    assert (coal.cells_released, coal.cells_suppressed, coal.reasons) == (3, 0, {})
    assert coal.suppressed_sample == []
    assert sorted(cell.value for cell in coal.sample if cell.value is not None) == [6, 30, 36]
    assert public["coal"].sample == [] and public["coal"].cells_released == 0


def test_see_as_follows_a_change_of_levels(test_node: NodeUnderTest) -> None:
    _load_levels(test_node)
    policy = _policy(test_node)
    with Session(test_node.engine) as session, session.begin():
        set_levels(session, "open", by="operator", release_level=Level.COALITION)
    with Session(test_node.engine) as session:
        public = {
            p.dataset.slug: p for p in operations.see_as(session, Level.PUBLIC, policy).datasets
        }
    # Discovery stays public: the stocktake still shows the dataset, its values are gone.
    opened = public["open"]
    assert opened.listed and not opened.values_visible
    assert opened.sample == [] and opened.cells_released == opened.cells_suppressed == 0


def test_see_as_samples_and_caps_counting(test_node: NodeUnderTest) -> None:
    rows = [
        row
        for area in ("BGD", "IND", "NPL", "KEN")
        for row in sex_table(area=area, female=(40, 40), male=(30, 30), total=(70, 70))
    ]
    test_node.load("wide", rows)
    policy = _policy(test_node)
    with Session(test_node.engine) as session:
        capped = operations.see_as(session, Level.PUBLIC, policy, sample_size=2, max_cells=5)
        full = operations.see_as(session, Level.PUBLIC, policy, sample_size=20)
    (few,) = capped.datasets
    assert len(few.sample) == 2 and few.suppressed_sample == []
    assert few.cells_released == 5 and not few.counted_all
    (every,) = full.datasets
    assert len(every.sample) == 12 and every.cells_released == 12 and every.counted_all
