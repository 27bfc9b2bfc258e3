"""Gap analysis: statuses on constructed frames with known answers, and on the demo federation."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pycountry
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auth.levels import Level
from federation.fanout import FederatedCoverage
from federation.frames import MAX_FRAME_CELLS, build_frame, coverage_filter, frame_rows
from federation.gaps import GapAnalysis, GapCell, GapStatus, analyse_gaps, rank_gaps
from federation.official import OfficialRecord, OfficialTable
from service.db import make_engine
from service.errors import BadRequest
from service.federation_demo import prepare_node
from service.node.coverage import coverage as node_coverage
from service.node.demo import DEMO_ORGANISATIONS
from service.node.demo_catalogue import DESIGNED_GAPS
from service.node.disclosure import DisclosurePolicy
from service.node.filters import CellFilter
from service.node.ingest import DatasetMeta, IngestOptions, ingest_file
from service.node.observations import read_page
from service.reference import Reference, load_reference
from service.settings import Settings

logger = logging.getLogger(__name__)
AS_OF = 2026
NO_DATA, STALE = GapStatus.NO_DATA, GapStatus.STALE
SINGLE, COVERED = GapStatus.SINGLE_SOURCE, GapStatus.COVERED


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def cov(
    organisation: str,
    indicator: str,
    ref_area: str,
    group: str = "_T",
    latest: int = 2024,
    *,
    node: str | None = None,
    dataset: str = "survey",
    breakdown: tuple[str, ...] = (),
    visible: bool = True,
    sub_area: str = "",
    cells: int = 4,
) -> FederatedCoverage:
    return FederatedCoverage(
        node_id=node or f"node-{organisation.lower()}",
        organisation=organisation,
        dataset=dataset,
        indicator=indicator,
        ref_area=ref_area,
        sub_area=sub_area,
        group=group,
        breakdown=breakdown,
        cell_count=cells,
        first_year=min(latest, 2015),
        latest_year=latest,
        values_visible=visible,
    )


def cells_by_key(analysis: GapAnalysis) -> dict[tuple[str, str, str], GapCell]:
    return {(cell.row, cell.ref_area, cell.group): cell for cell in analysis.cells}


def statuses(analysis: GapAnalysis) -> dict[tuple[str, str, str], GapStatus]:
    return {key: cell.status for key, cell in cells_by_key(analysis).items()}


def analyse(
    reference: Reference, coverage: list[FederatedCoverage], **frame: object
) -> GapAnalysis:
    options: dict[str, object] = {
        "countries": ["KEN", "BGD"],
        "indicators": ["5.2.1", "5.3.1"],
        "groups": ["_T", "PWD"],
    }
    options.update(frame)
    built = build_frame(reference, **options)  # type: ignore[arg-type]
    return analyse_gaps(built, coverage, reference, as_of_year=AS_OF)


def test_every_status_on_a_small_frame(reference: Reference) -> None:
    coverage = [
        cov("Alpha", "5.2.1", "KEN", latest=2024),
        cov("Beta", "5.2.1", "KEN", latest=2023),
        cov("Alpha", "5.2.1", "KEN", "PWD", latest=2025),
        cov("Alpha", "5.2.1", "BGD", latest=2019),
        cov("Beta", "5.3.1", "BGD", "PWD", latest=2016),
        cov("Gamma", "5.3.1", "KEN", latest=2022),
        cov("Alpha", "3.8.1", "KEN"),  # outside the frame: ignored
    ]
    analysis = analyse(reference, coverage)
    assert statuses(analysis) == {
        ("5.2.1", "KEN", "_T"): COVERED,
        ("5.2.1", "KEN", "PWD"): SINGLE,
        ("5.2.1", "BGD", "_T"): STALE,
        ("5.2.1", "BGD", "PWD"): NO_DATA,
        ("5.3.1", "KEN", "_T"): SINGLE,
        ("5.3.1", "KEN", "PWD"): NO_DATA,
        ("5.3.1", "BGD", "_T"): NO_DATA,
        ("5.3.1", "BGD", "PWD"): STALE,
    }
    covered = cells_by_key(analysis)["5.2.1", "KEN", "_T"]
    assert covered.organisations == ("Alpha", "Beta")
    assert covered.latest_year == 2024
    assert cells_by_key(analysis)["5.2.1", "BGD", "PWD"].latest_year is None
    # Frame order: rows, then countries as asked, then groups.
    assert [(c.row, c.ref_area, c.group) for c in analysis.cells][:3] == [
        ("5.2.1", "KEN", "_T"),
        ("5.2.1", "KEN", "PWD"),
        ("5.2.1", "BGD", "_T"),
    ]


@pytest.mark.parametrize(
    ("latest", "stale_after", "expected"),
    [
        (2021, 5, SINGLE),  # five years old: still current
        (2020, 5, STALE),  # six years old
        (2020, 6, SINGLE),  # the caller sets the threshold
        (2026, 0, SINGLE),
        (2025, 0, STALE),
        (2027, 5, SINGLE),  # a period after as_of_year is current
    ],
)
def test_staleness_boundary(
    reference: Reference, latest: int, stale_after: int, expected: GapStatus
) -> None:
    frame = build_frame(reference, countries=["KEN"], indicators=["5.2.1"], groups=["_T"])
    analysis = analyse_gaps(
        frame,
        [cov("Alpha", "5.2.1", "KEN", latest=latest)],
        reference,
        stale_after_years=stale_after,
        as_of_year=AS_OF,
    )
    assert analysis.cells[0].status is expected
    assert analysis.cells[0].sources[0].stale is (expected is STALE)


def test_as_of_year_defaults_to_this_year(reference: Reference) -> None:
    frame = build_frame(reference, countries=["KEN"], indicators=["5.2.1"], groups=["_T"])
    this_year = time.localtime().tm_year
    fresh = analyse_gaps(frame, [cov("Alpha", "5.2.1", "KEN", latest=this_year - 5)], reference)
    old = analyse_gaps(frame, [cov("Alpha", "5.2.1", "KEN", latest=this_year - 6)], reference)
    assert fresh.as_of_year == this_year
    assert (fresh.cells[0].status, old.cells[0].status) == (SINGLE, STALE)


def test_negative_staleness_is_refused(reference: Reference) -> None:
    frame = build_frame(reference, countries=["KEN"], indicators=["5.2.1"], groups=["_T"])
    with pytest.raises(BadRequest, match="staleAfterYears"):
        analyse_gaps(frame, [], reference, stale_after_years=-1)


def test_only_current_organisations_make_a_cell_covered(reference: Reference) -> None:
    coverage = [cov("Alpha", "5.2.1", "KEN", latest=2024), cov("Beta", "5.2.1", "KEN", latest=2012)]
    cell = analyse(reference, coverage).cells[0]
    assert cell.status is SINGLE
    assert cell.organisations == ("Alpha", "Beta")
    assert [source.stale for source in cell.sources] == [False, True]


def test_organisations_are_counted_not_nodes_or_datasets(reference: Reference) -> None:
    coverage = [
        cov("Alpha", "5.2.1", "KEN", dataset="survey-2023", latest=2023),
        cov("Alpha", "5.2.1", "KEN", dataset="survey-2024", latest=2024, node="alpha-2"),
    ]
    cell = analyse(reference, coverage).cells[0]
    assert cell.status is SINGLE
    (source,) = cell.sources
    assert source.datasets == ("survey-2023", "survey-2024")
    assert source.node_ids == ("alpha-2", "node-alpha")
    assert source.cell_count == 8
    assert (source.first_year, source.latest_year) == (2015, 2024)


def test_a_group_cell_counts_for_its_group_only(reference: Reference) -> None:
    coverage = [
        # About persons with disabilities: covers PWD, not everyone.
        cov("Alpha", "5.2.1", "KEN", "PWD", breakdown=("GROUP", "SEX")),
        # About everyone, broken down by disability status: covers _T only.
        cov("Beta", "5.2.1", "BGD", "_T", breakdown=("DISABILITY_STATUS",)),
    ]
    found = statuses(analyse(reference, coverage, indicators=["5.2.1"]))
    assert found == {
        ("5.2.1", "KEN", "_T"): NO_DATA,
        ("5.2.1", "KEN", "PWD"): SINGLE,
        ("5.2.1", "BGD", "_T"): SINGLE,
        ("5.2.1", "BGD", "PWD"): NO_DATA,
    }
    bgd = cells_by_key(analyse(reference, coverage, indicators=["5.2.1"]))["5.2.1", "BGD", "_T"]
    assert bgd.sources[0].breakdowns == ("DISABILITY_STATUS",)


def test_restricted_data_is_coverage_not_a_gap(reference: Reference) -> None:
    coverage = [
        cov("Alpha", "5.2.1", "KEN", visible=False),
        cov("Alpha", "5.2.1", "KEN", "PWD", visible=False),
        cov("Beta", "5.2.1", "KEN", "PWD", visible=True),
    ]
    found = cells_by_key(analyse(reference, coverage, indicators=["5.2.1"], countries=["KEN"]))
    assert found["5.2.1", "KEN", "_T"].status is SINGLE
    assert found["5.2.1", "KEN", "_T"].sources[0].values_visible is False
    assert found["5.2.1", "KEN", "PWD"].status is COVERED


def test_sub_national_data_counts_for_its_country(reference: Reference) -> None:
    coverage = [cov("Alpha", "5.2.1", "KEN", sub_area="KE-30")]
    cell = analyse(reference, coverage, indicators=["5.2.1"], countries=["KEN"]).cells[0]
    assert cell.status is SINGLE
    assert cell.sources[0].sub_national_only is True


def test_repeated_indicators_share_their_data(reference: Reference) -> None:
    # 1.5.1 = 11.5.1 = 13.1.1: one UNSD indicator reported under three numbers.
    coverage = [cov("Alpha", "1.5.1", "KEN"), cov("Beta", "13.1.1", "KEN")]
    frame = build_frame(
        reference, countries=["KEN"], indicators=["1.5.1", "11.5.1", "13.1.1"], groups=["_T"]
    )
    found = statuses(analyse_gaps(frame, coverage, reference, as_of_year=AS_OF))
    assert set(found.values()) == {COVERED}
    assert coverage_filter(
        reference, frame_rows(reference, indicators=["13.1.1"]), countries=["KEN"], groups=None
    ) == {
        "indicators": ["1.5.1", "11.5.1", "13.1.1"],
        "refAreas": ["KEN"],
    }


def test_target_level_aggregates_the_targets_indicators(reference: Reference) -> None:
    coverage = [
        cov("Alpha", "5.2.1", "KEN", latest=2024),
        cov("Beta", "5.2.2", "KEN", latest=2023),
        cov("Alpha", "5.2.2", "BGD", latest=2012),
        cov("Alpha", "5.2.1", "BGD", latest=2024),
    ]
    frame = build_frame(
        reference, countries=["KEN", "BGD", "NPL"], targets=["5.2"], groups=["_T"], level="TARGET"
    )
    assert [(row.code, row.indicators) for row in frame.rows] == [("5.2", ("5.2.1", "5.2.2"))]
    found = cells_by_key(analyse_gaps(frame, coverage, reference, as_of_year=AS_OF))
    ken, bgd, npl = found["5.2", "KEN", "_T"], found["5.2", "BGD", "_T"], found["5.2", "NPL", "_T"]
    assert ken.status is COVERED  # two organisations, one on each indicator
    assert ken.indicators == (("5.2.1", SINGLE), ("5.2.2", SINGLE))
    # Alpha's current 5.2.1 makes it a current source; its 5.2.2 alone is stale.
    assert bgd.status is SINGLE
    assert bgd.indicators == (("5.2.1", SINGLE), ("5.2.2", STALE))
    assert bgd.sources[0].indicators == ("5.2.1", "5.2.2")
    assert npl.status is NO_DATA
    assert npl.indicators == (("5.2.1", NO_DATA), ("5.2.2", NO_DATA))


def test_target_frame_follows_the_narrowing(reference: Reference) -> None:
    rows = frame_rows(reference, goals=["11"], level="TARGET")
    assert "11.c" not in [row.code for row in rows]  # no indicator to cover it
    rows = frame_rows(reference, indicators=["1.5.1", "1.5.3"], level="TARGET")
    assert [(row.code, row.indicators) for row in rows] == [("1.5", ("1.5.1", "1.5.3"))]


def test_official_coverage_beside_each_cell(reference: Reference) -> None:
    table = OfficialTable(
        [
            OfficialRecord("KNBS", "5.2.1", "", "KEN", "_T", "SEX", None, 2022),
            OfficialRecord("KNBS", "5.2.1", "", "KEN", "_T", "DISABILITY_STATUS", None, 2022),
            OfficialRecord("KNBS", "5.2.1", "", "KEN", "PWD", "DISABILITY_STATUS", None, 2022),
        ]
    )
    frame = build_frame(
        reference, countries=["KEN", "BGD"], indicators=["5.2.1"], groups=["_T", "PWD", "DALIT"]
    )
    coverage = [cov("Alpha", "5.2.1", "KEN", "PWD")]
    found = cells_by_key(analyse_gaps(frame, coverage, reference, official=table, as_of_year=AS_OF))

    pwd = found["5.2.1", "KEN", "PWD"]
    assert pwd.status is SINGLE
    assert pwd.official.reported is True
    assert pwd.official.reported_dimensions == ("SEX", "DISABILITY_STATUS")
    assert (pwd.official.sources, pwd.official.latest_year) == (("KNBS",), 2022)
    assert pwd.official.note.startswith(
        "official statistics report 5.2.1 for KEN by SEX, DISABILITY_STATUS; "
        "expected by global constraints: SEX, AGE, URBANISATION"
    )
    assert found["5.2.1", "KEN", "_T"].official.reported is True
    dalit = found["5.2.1", "KEN", "DALIT"].official
    assert (dalit.reported, dalit.expected) == (False, False)
    assert "not for this group" in dalit.note
    bgd = found["5.2.1", "BGD", "_T"].official
    assert bgd.reported is False and bgd.expected is True
    assert bgd.note.startswith("official statistics report nothing on 5.2.1 for BGD")

    without = cells_by_key(analyse_gaps(frame, coverage, reference, as_of_year=AS_OF))
    assert without["5.2.1", "KEN", "PWD"].official.reported is None
    assert without["5.2.1", "KEN", "PWD"].official.note.startswith(
        "no official-coverage table loaded; expected by global constraints"
    )


def test_summaries_and_largest_gaps(reference: Reference) -> None:
    coverage = [
        cov("Alpha", "5.2.1", "KEN"),
        cov("Beta", "5.2.1", "KEN"),
        cov("Alpha", "5.3.1", "KEN"),
        cov("Alpha", "5.2.1", "KEN", "PWD", latest=2010),
        cov("Alpha", "5.2.1", "BGD", "PWD"),
    ]
    analysis = analyse(reference, coverage)
    by_country = {
        c.key: (c.no_data, c.stale, c.single_source, c.covered) for c in analysis.by_country
    }
    assert by_country == {"KEN": (1, 1, 1, 1), "BGD": (3, 0, 1, 0)}
    by_group = {c.key: (c.no_data, c.stale, c.single_source, c.covered) for c in analysis.by_group}
    assert by_group == {"_T": (2, 0, 1, 1), "PWD": (2, 1, 1, 0)}
    # BGD/_T lacks both rows; BGD/PWD and KEN/PWD lack one each, KEN/PWD's other row is stale.
    ranked = [
        (gap.ref_area, gap.group, gap.counts.no_data, gap.rows) for gap in analysis.largest_gaps
    ]
    assert ranked == [
        ("BGD", "_T", 2, ("5.2.1", "5.3.1")),
        ("KEN", "PWD", 1, ("5.3.1",)),
        ("BGD", "PWD", 1, ("5.3.1",)),
    ]  # KEN/_T has no gap and is left out
    assert rank_gaps(analysis.cells, limit=1)[0].ref_area == "BGD"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"indicators": ["5.2.9"]}, "unknown indicator '5.2.9'"),
        ({"goals": ["18"]}, "unknown goal '18'"),
        ({"targets": ["5.z"]}, "unknown target '5.z'"),
        ({"countries": ["XKX", "ken"]}, "unknown country 'XKX', 'ken'"),
        ({"groups": ["ROMA"]}, "unknown group 'ROMA'"),
        ({"goals": ["5"], "targets": ["3.8"]}, "no SDG indicator matches"),
    ],
)
def test_unknown_codes_are_named(
    reference: Reference, arguments: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        build_frame(reference, **{"countries": ["KEN"], **arguments})  # type: ignore[arg-type]


def test_frames_have_a_size_limit(reference: Reference) -> None:
    countries = ["KEN", "BGD", "NPL", "IND", "UGA"]
    assert build_frame(reference, countries=countries).size == 248 * 5 * 14
    every_country = sorted(str(country.alpha_3) for country in pycountry.countries)[:60]
    assert 248 * len(every_country) * 14 > MAX_FRAME_CELLS
    with pytest.raises(BadRequest, match="narrow it"):
        build_frame(reference, countries=every_country)


def test_a_full_frame_is_quick(reference: Reference) -> None:
    """248 indicators × 6 countries × 14 groups, with 6,000 coverage cells from 4 nodes."""
    countries = ["KEN", "BGD", "NPL", "UGA", "IND", "PHL"]
    groups = reference.codelist("GROUP").codes()
    indicators = [indicator.code for indicator in reference.indicators]
    coverage = [
        cov(
            f"Org{i % 4}",
            indicators[(i * 7) % len(indicators)],
            countries[i % 6],
            groups[(i * 5) % 14],
            latest=2012 + i % 14,
            node=f"node-{i % 4}",
        )
        for i in range(6000)
    ]
    table = OfficialTable(
        OfficialRecord("NSO", code, "", country, "_T", "SEX", None, 2022)
        for code in indicators[::3]
        for country in countries
    )
    started = time.perf_counter()
    frame = build_frame(reference, countries=countries)
    analysis = analyse_gaps(frame, coverage, reference, official=table, as_of_year=AS_OF)
    seconds = time.perf_counter() - started
    logger.info("gap analysis of %d cells took %.3f s", frame.size, seconds)
    assert len(analysis.cells) == 248 * 6 * 14 == 20_832
    assert sum(c.total for c in analysis.by_country) == 20_832
    assert seconds < 5, f"{seconds:.2f} s"  # about 0.3 s on a laptop; generous for busy CI


# --- real node coverage ----------------------------------------------------------------------


TIDY = """indicator,series,ref_area,time_period,sex,group,value,unit,n
5.2.1,VC_VAW_MARR,KEN,2024,_T,_T,12,NUMBER,12
5.2.1,VC_VAW_MARR,KEN,2024,F,_T,8,NUMBER,8
5.2.1,VC_VAW_MARR,KEN,2024,M,_T,4,NUMBER,4
5.2.1,VC_VAW_MARR,KEN,2024,_T,PWD,3,NUMBER,3
"""


def node_answer(engine: Engine, level: Level, organisation: str) -> list[FederatedCoverage]:
    with Session(engine) as session:
        found = node_coverage(session, level=level, cell_filter=CellFilter())
    return [
        FederatedCoverage(
            node_id="node",
            organisation=organisation,
            dataset=c.dataset,
            indicator=c.indicator,
            ref_area=c.ref_area,
            sub_area=c.sub_area,
            group=c.group,
            breakdown=tuple(c.breakdown.split("+")) if c.breakdown else (),
            cell_count=c.cell_count,
            first_year=c.first_year,
            latest_year=c.latest_year,
            values_visible=c.values_visible,
        )
        for c in found
    ]


@pytest.mark.parametrize(
    ("release", "discovery"), [(Level.PUBLIC, Level.PUBLIC), (Level.OWNER, Level.PUBLIC)]
)
def test_suppressed_and_restricted_node_data_is_not_a_gap(
    reference: Reference, node_engine: Engine, tmp_path: Path, release: Level, discovery: Level
) -> None:
    """A node's small cells are all suppressed for a public caller (or not readable at all),
    yet the public caller's gap analysis counts them as data."""
    path = tmp_path / "small.csv"
    path.write_text(TIDY, encoding="utf-8")
    meta = DatasetMeta(
        slug="small",
        title="Small survey",
        organisation="Alpha",
        release_level=release,
        discovery_level=discovery,
    )
    ingest_file(node_engine, path, meta, IngestOptions(format="tidy"), loaded_by="test")
    if release is Level.PUBLIC:
        policy = DisclosurePolicy.from_settings(Settings())
        with Session(node_engine) as session:
            page = read_page(
                session,
                level=Level.PUBLIC,
                policy=policy,
                cell_filter=CellFilter(),
                first=100,
                after=None,
            )
        assert page.cells and all(cell.suppressed for cell in page.cells)

    coverage = node_answer(node_engine, Level.PUBLIC, "Alpha")
    frame = build_frame(
        reference, countries=["KEN"], indicators=["5.2.1"], groups=["_T", "PWD", "DALIT"]
    )
    found = statuses(analyse_gaps(frame, coverage, reference, as_of_year=AS_OF))
    assert found == {
        ("5.2.1", "KEN", "_T"): SINGLE,
        ("5.2.1", "KEN", "PWD"): SINGLE,
        ("5.2.1", "KEN", "DALIT"): NO_DATA,
    }
    assert {item.values_visible for item in coverage} == {release is Level.PUBLIC}


@pytest.fixture(scope="module")
def demo_coverage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[FederatedCoverage]]:
    """Every demo organisation's coverage as its owner sees it, read from the node databases."""
    folder = tmp_path_factory.mktemp("demo")
    found: list[FederatedCoverage] = []
    for org in DEMO_ORGANISATIONS:
        prepared = prepare_node(org, folder)
        engine = make_engine(prepared.env["LNOB_DATABASE_URL"])
        try:
            found.extend(node_answer(engine, Level.OWNER, org.organisation))
        finally:
            engine.dispose()
    yield found


def test_the_demo_federation_shows_its_designed_gaps(
    reference: Reference, demo_coverage: list[FederatedCoverage]
) -> None:
    countries = sorted({gap.ref_area for gap in DESIGNED_GAPS})
    frame = build_frame(
        reference, countries=countries, indicators=sorted({gap.indicator for gap in DESIGNED_GAPS})
    )
    found = cells_by_key(analyse_gaps(frame, demo_coverage, reference, as_of_year=AS_OF))
    organisation = {org.node_id: org.organisation for org in DEMO_ORGANISATIONS}
    for gap in DESIGNED_GAPS:
        cell = found[gap.indicator, gap.ref_area, gap.group]
        assert (cell.status.value, cell.organisations) == (
            gap.status,
            tuple(sorted(organisation[node] for node in gap.organisations)),
        ), gap
