"""The demo data: reproducible, valid codes, tables that add up, and the gaps it promises."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pycountry
import pytest
from sqlalchemy import Engine, String, func, select

from auth.levels import Level
from service.node.demo import (
    DEMO_ORGANISATIONS,
    DESIGNED_GAPS,
    POOLABLE_TABLES,
    DemoOrganisation,
    dataset_meta,
    generate_rows,
    write_demo_files,
)
from service.node.demo_catalogue import GROUP_COUNTRIES
from service.node.disclosure import CellIn, LevelRule, Reason, decide_table
from service.node.ingest import IngestOptions, ingest_file
from service.node.ingest.periods import parse_period
from service.node.ingest.records import TIDY_COLUMNS
from service.node.ingest.writer import SLUG
from service.node.models import Dataset, Observation

Row = dict[str, str]
Table = tuple[str, Row, list[Row]]  # (dimension that varies, its _T total, the other cells)
SEED = 2026
TODAY = 2026
STALE_YEARS = 5
COUNTRIES = {"BGD", "IND", "KEN", "MWI", "NPL", "VNM"}
GROUPS = {
    "_T", "PWD", "ETHNIC_MIN", "INDIGENOUS", "DALIT", "RELIGIOUS_MIN", "LGBTIQ", "SLUM",
    "REFUGEE_IDP", "MIGRANT", "OLDER", "YOUTH", "PLHIV", "LANDLESS",
}  # fmt: skip
UNITS = {"PERCENT", "NUMBER", "RATE", "MEAN", "SCORE"}
DIMENSION_CODELISTS = {
    "sex": "CL_SEX",
    "age": "CL_AGE",
    "disability_status": "CL_DISABILITY",
    "urbanisation": "CL_URBANISATION",
    "income_wealth_quantile": "CL_QUANTILE",
}
DIMENSIONS = tuple(DIMENSION_CODELISTS)
KEY = (
    "indicator", "series", "ref_area", "sub_area", "time_period", "sex", "age",
    "disability_status", "urbanisation", "income_wealth_quantile", "group", "unit",
)  # fmt: skip
DECIMALS = {"PERCENT": 1, "RATE": 1, "NUMBER": 0, "MEAN": 2, "SCORE": 1}
PROMISED_LEVELS = {
    "riverbend": set(Level),
    "commons-voice": {Level.PUBLIC, Level.GOVERNMENT, Level.COALITION},
    "lantern": set(Level),
}


@pytest.fixture(scope="module")
def rows() -> dict[tuple[str, str], list[Row]]:
    """Every demo dataset's rows for the default seed, by (node id, slug)."""
    return {
        (org.node_id, dataset.slug): list(generate_rows(org, dataset, seed=SEED))
        for org in DEMO_ORGANISATIONS
        for dataset in org.datasets
    }


@pytest.fixture(scope="module")
def tables(rows: dict[tuple[str, str], list[Row]]) -> dict[tuple[str, str], list[Table]]:
    """Every table (all dimensions fixed but one) of every dataset."""
    return {dataset: list(component_tables(cells)) for dataset, cells in rows.items()}


def org_rows(rows: dict[tuple[str, str], list[Row]], node_id: str) -> Iterable[Row]:
    return (row for (node, _), cells in rows.items() if node == node_id for row in cells)


def year_end(period: str) -> int:
    parsed = parse_period(period)
    assert parsed is not None, period
    return parsed.year_end


def codelist(shared_data: Path, name: str) -> set[str]:
    with (shared_data / "sdmx-sdg-dsd" / f"{name}.csv").open(encoding="utf-8") as handle:
        return {row["code"] for row in csv.DictReader(handle)}


def test_three_organisations_with_distinct_nodes_and_dataset_slugs() -> None:
    assert len(DEMO_ORGANISATIONS) == 3
    assert len({org.node_id for org in DEMO_ORGANISATIONS}) == 3
    slugs = [dataset.slug for org in DEMO_ORGANISATIONS for dataset in org.datasets]
    # Distinct across organisations, so every file can sit in one folder.
    assert len(slugs) == len(set(slugs))
    assert all(SLUG.fullmatch(slug) for slug in slugs)


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    for org in DEMO_ORGANISATIONS:
        first = write_demo_files(org, tmp_path / "first" / org.node_id)
        second = write_demo_files(org, tmp_path / "second" / org.node_id, seed=SEED)
        assert [dataset for dataset, _ in first] == list(org.datasets)
        for (_, a), (_, b) in zip(first, second, strict=True):
            assert a.name == b.name == f"{a.stem}.csv"
            assert a.read_bytes() == b.read_bytes()


def test_different_seeds_give_different_figures(rows: dict[tuple[str, str], list[Row]]) -> None:
    for org in DEMO_ORGANISATIONS:
        for dataset in org.datasets:
            other = generate_rows(org, dataset, seed=SEED + 1)
            cells = rows[(org.node_id, dataset.slug)]
            assert any(a != b for a, b in zip(cells, other, strict=False)), dataset.slug


def test_files_are_tidy_csv_with_the_ingest_header(tmp_path: Path) -> None:
    for _, path in write_demo_files(DEMO_ORGANISATIONS[0], tmp_path):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            assert tuple(next(reader)) == TIDY_COLUMNS
            assert all(len(line) == len(TIDY_COLUMNS) for line in reader)


def test_every_dataset_has_a_realistic_size(rows: dict[tuple[str, str], list[Row]]) -> None:
    sizes = {key: len(cells) for key, cells in rows.items()}
    assert all(300 <= size <= 25_000 for size in sizes.values()), sizes
    assert max(sizes.values()) >= 15_000  # one large dataset for a realistic feel
    assert sum(1 for size in sizes.values() if size > 5_000) == 1


def test_every_code_is_valid(rows: dict[tuple[str, str], list[Row]], shared_data: Path) -> None:
    framework = shared_data / "sdg-framework" / "SDG_Target_Indicator_UNSD_2023.csv"
    with framework.open(encoding="utf-8") as handle:
        indicators = {
            row["IndicatorsNumber"].strip() for row in csv.DictReader(handle, delimiter=";")
        }
    with (shared_data / "sdmx-sdg-dsd" / "series_to_indicator.csv").open(encoding="utf-8") as f:
        series_indicator = {row["series_code"]: row["indicator"] for row in csv.DictReader(f)}
    codes = {column: codelist(shared_data, name) for column, name in DIMENSION_CODELISTS.items()}
    obs_status = codelist(shared_data, "CL_OBS_STATUS")
    subdivisions: set[tuple[str, str]] = set()
    for row in (row for cells in rows.values() for row in cells):
        assert row["indicator"] in indicators, row
        if row["series"].isupper():  # an SDMX series code, not a source's own label
            assert series_indicator[row["series"]] == row["indicator"], row
        assert row["ref_area"] in COUNTRIES
        assert parse_period(row["time_period"]) is not None, row
        for column, valid in codes.items():
            assert row[column] in valid, (column, row)
        assert row["group"] in GROUPS
        assert row["ref_area"] in GROUP_COUNTRIES[row["group"]], row
        assert row["unit"] in UNITS
        assert row["obs_status"] in obs_status | {""}
        if row["sub_area"]:
            subdivisions.add((row["ref_area"], row["sub_area"]))
    iso3 = {str(country.alpha_2): str(country.alpha_3) for country in pycountry.countries}
    iso_3166_2 = {str(sub.code): iso3[str(sub.country_code)] for sub in pycountry.subdivisions}
    for country, code in subdivisions:
        assert iso_3166_2.get(code) == country, code
    assert {country for country, _ in subdivisions} == COUNTRIES


def test_dalit_only_in_india_and_nepal(rows: dict[tuple[str, str], list[Row]]) -> None:
    countries = {r["ref_area"] for cells in rows.values() for r in cells if r["group"] == "DALIT"}
    assert countries == {"IND", "NPL"}


def test_every_cell_has_a_base_and_a_plausible_value(
    rows: dict[tuple[str, str], list[Row]],
) -> None:
    units = set()
    for row in (row for cells in rows.values() for row in cells):
        n, value, unit = int(row["n"]), float(row["value"]), row["unit"]
        units.add(unit)
        assert n >= 1
        assert row["value"] == f"{value:.{DECIMALS[unit]}f}"
        if unit == "PERCENT":
            assert 0 <= value <= 100
        elif unit == "RATE":
            assert 0 <= value <= 1000
        elif unit == "SCORE":
            assert 0 <= value <= 100
        elif unit == "NUMBER":
            assert 0 <= value <= n
        else:
            assert 0 < value < 50
        if row["numerator"]:
            assert 0 <= int(row["numerator"]) <= n
        if row["lower"]:
            assert float(row["lower"]) <= value <= float(row["upper"])
    assert units == UNITS


def test_no_duplicate_keys(rows: dict[tuple[str, str], list[Row]]) -> None:
    for dataset, cells in rows.items():
        keys = [tuple(row[column] for column in KEY) for row in cells]
        assert len(keys) == len(set(keys)), dataset


def component_tables(cells: list[Row]) -> Iterable[Table]:
    """(dimension, total, components) for every table: all dimensions fixed but one."""
    buckets: dict[tuple[str, tuple[str, ...]], list[Row]] = defaultdict(list)
    for row in cells:
        for dimension in DIMENSIONS:
            others = tuple(row[column] for column in KEY if column != dimension)
            buckets[(dimension, others)].append(row)
    for (dimension, _), members in buckets.items():
        totals = [row for row in members if row[dimension] == "_T"]
        components = [row for row in members if row[dimension] != "_T"]
        if components and totals:
            assert len(totals) == 1
            yield dimension, totals[0], components


def assert_adds_up(total: Row, parts: list[Row]) -> None:
    n = int(total["n"])
    assert sum(int(part["n"]) for part in parts) == n, total
    unit = total["unit"]
    if unit == "NUMBER":
        assert sum(int(part["value"]) for part in parts) == int(total["value"]), total
        return
    if total["numerator"]:
        assert sum(int(part["numerator"]) for part in parts) == int(total["numerator"]), total
    # Each figure is rounded, so the n-weighted mean may be off by one unit of the last digit.
    weighted = sum(int(part["n"]) * float(part["value"]) for part in parts) / n
    assert math.isclose(weighted, float(total["value"]), abs_tol=1.01 * 10 ** -DECIMALS[unit])


def test_tables_add_up_to_their_totals(tables: dict[tuple[str, str], list[Table]]) -> None:
    for dataset_tables in tables.values():
        for _, total, components in dataset_tables:
            assert_adds_up(total, components)
    assert sum(map(len, tables.values())) > 10_000


def test_national_cells_are_the_sum_of_their_sub_areas(
    rows: dict[tuple[str, str], list[Row]],
) -> None:
    checked = 0
    for cells in rows.values():
        national = {tuple(r[c] for c in KEY): r for r in cells if not r["sub_area"]}
        parts: dict[tuple[str, ...], list[Row]] = defaultdict(list)
        for row in cells:
            if row["sub_area"]:
                parts[tuple("" if c == "sub_area" else row[c] for c in KEY)].append(row)
        for key, areas in parts.items():
            assert_adds_up(national[key], areas)
            checked += 1
    assert checked > 1_000


def test_small_cells_for_suppression(
    rows: dict[tuple[str, str], list[Row]], tables: dict[tuple[str, str], list[Table]]
) -> None:
    for org in DEMO_ORGANISATIONS:
        ns = [int(row["n"]) for row in org_rows(rows, org.node_id)]
        assert any(n < 5 for n in ns), org.node_id
        assert any(5 <= n < 10 for n in ns), org.node_id
        # Complementary suppression's case: one small cell that its total would give away.
        lone_small = [
            total
            for dataset in org.datasets
            for _, total, parts in tables[(org.node_id, dataset.slug)]
            if int(total["n"]) >= 10 and sum(int(part["n"]) < 10 for part in parts) == 1
        ]
        assert lone_small, f"{org.node_id} has no table with exactly one small cell"


def test_public_callers_meet_complementary_suppression(
    rows: dict[tuple[str, str], list[Row]],
) -> None:
    public = LevelRule(Level.PUBLIC, threshold=10, rounding=5)
    for org in DEMO_ORGANISATIONS:
        reasons: set[Reason] = set()
        for dataset in org.datasets:
            groups: dict[tuple[str, ...], list[CellIn]] = defaultdict(list)
            for i, row in enumerate(rows[(org.node_id, dataset.slug)]):
                table = tuple(row[c] for c in ("indicator", "series", "ref_area", "sub_area"))
                dims = tuple(row[d] for d in (*DIMENSIONS, "group"))
                groups[(*table, row["time_period"], row["unit"])].append(
                    CellIn(i, dims, float(row["value"]), row["unit"], int(row["n"]))
                )
            for cells in groups.values():
                decisions = decide_table(cells, public, published=dataset.published)
                reasons |= {d.reason for d in decisions if d.reason is not None}
        assert {Reason.BELOW_THRESHOLD, Reason.COMPLEMENTARY} <= reasons, org.node_id


def test_release_and_discovery_levels() -> None:
    datasets = [dataset for org in DEMO_ORGANISATIONS for dataset in org.datasets]
    assert all(d.discovery_level <= d.release_level for d in datasets)
    for org in DEMO_ORGANISATIONS:
        assert {d.release_level for d in org.datasets} >= PROMISED_LEVELS[org.node_id]
    assert {d.release_level for d in datasets} == set(Level)
    # Data the stocktake shows to callers who may not read it...
    assert any(d.discovery_level < d.release_level for d in datasets)
    assert any(
        d.discovery_level is Level.PUBLIC and d.release_level > Level.GOVERNMENT for d in datasets
    )
    # ...and data that only its owner knows about.
    assert any(d.discovery_level is Level.OWNER for d in datasets)


def coverage(rows: dict[tuple[str, str], list[Row]]) -> dict[tuple[str, str, str], dict[str, int]]:
    """(indicator, country, group) -> organisation -> latest year it has data for."""
    found: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for (node_id, _), cells in rows.items():
        for row in cells:
            latest = found[(row["indicator"], row["ref_area"], row["group"])]
            latest[node_id] = max(latest.get(node_id, 0), year_end(row["time_period"]))
    return found


def test_designed_gaps_are_in_the_data(rows: dict[tuple[str, str], list[Row]]) -> None:
    found = coverage(rows)
    recent = TODAY - STALE_YEARS
    assert {gap.status for gap in DESIGNED_GAPS} == {"NO_DATA", "STALE", "SINGLE_SOURCE", "COVERED"}
    for gap in DESIGNED_GAPS:
        latest = found.get((gap.indicator, gap.ref_area, gap.group), {})
        assert set(latest) == set(gap.organisations), gap
        if gap.status == "NO_DATA":
            assert not latest
        elif gap.status == "STALE":
            assert latest and max(latest.values()) < recent, (gap, latest)
        else:
            assert all(year >= recent for year in latest.values()), (gap, latest)
            assert len(latest) == 1 if gap.status == "SINGLE_SOURCE" else len(latest) >= 2


def test_some_organisations_hold_the_same_tables_to_pool(
    rows: dict[tuple[str, str], list[Row]],
) -> None:
    assert any(len(table.organisations) == 3 for table in POOLABLE_TABLES)
    for table in POOLABLE_TABLES:
        fixed = {
            "indicator": table.indicator,
            "series": table.series,
            "unit": table.unit,
            "ref_area": table.ref_area,
            "sub_area": "",
            "time_period": table.time_period,
            "group": table.group,
        }
        others = [d for d in DIMENSIONS if d not in table.breakdown]
        cells: dict[str, set[tuple[str, ...]]] = {}
        for org in DEMO_ORGANISATIONS:
            held = {
                tuple(row[d] for d in table.breakdown)
                for row in org_rows(rows, org.node_id)
                if all(row[c] == v for c, v in fixed.items())
                and all(row[d] == "_T" for d in others)
            }
            if held:
                cells[org.node_id] = held
        assert set(cells) == set(table.organisations), table
        first, *rest = cells.values()
        assert all(held == first for held in rest), table
        # The full cross-tabulation with its totals, e.g. sex x age: 3 x 4 cells.
        assert len(first) == math.prod(
            len({c[i] for c in first}) for i in range(len(table.breakdown))
        )


def test_dataset_metadata_fits_the_node_tables() -> None:
    for name in ("title", "methodology", "collection_period", "licence", "contact"):
        column_type = Dataset.__table__.columns[name].type
        assert isinstance(column_type, String) and column_type.length is not None
        for org in DEMO_ORGANISATIONS:
            for dataset in org.datasets:
                assert len(getattr(dataset, name)) <= column_type.length, (dataset.slug, name)


def test_every_demo_file_ingests(node_engine: Engine, tmp_path: Path) -> None:
    expected: dict[str, int] = {}
    for org in DEMO_ORGANISATIONS:
        for dataset, path in write_demo_files(org, tmp_path / org.node_id):
            report = ingest_file(
                node_engine,
                path,
                dataset_meta(org, dataset),
                IngestOptions(format="tidy", strict=True),
                loaded_by="demo",
            )
            assert report.rows_excluded == 0
            assert report.rows_stored == report.rows_read
            expected[dataset.slug] = report.rows_stored
    with node_engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(Dataset.slug, func.count(Observation.id))
                .join(Observation, Observation.version_id == Dataset.current_version_id)
                .group_by(Dataset.slug)
            ).all()
        )
        levels = {
            slug: (Level(release), Level(discovery))
            for slug, release, discovery in conn.execute(
                select(Dataset.slug, Dataset.release_level, Dataset.discovery_level)
            )
        }
    assert stored == expected
    for org in DEMO_ORGANISATIONS:
        for dataset in org.datasets:
            assert levels[dataset.slug] == (dataset.release_level, dataset.discovery_level)


def test_unknown_dataset_is_refused() -> None:
    org: DemoOrganisation = DEMO_ORGANISATIONS[0]
    stranger = DEMO_ORGANISATIONS[1].datasets[0]
    with pytest.raises(KeyError, match="no demo dataset"):
        next(generate_rows(org, stranger, seed=SEED))
