"""Generated benchmark data: tidy CSV files of 100-cell tables, the same for the same seed.

Every table is one indicator, area and year, broken down by age (ten codes with the total) and
by marginalised group (ten codes with the total): a full two-way cross-tabulation with its
margins, as a survey report would publish it. About one cell in twenty has a base below the
public threshold, so disclosure control has work to do on every page.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SEED = 2026
AGES = (
    "_T", "Y0T4", "Y5T14", "Y15T24", "Y25T34", "Y35T44", "Y45T54", "Y55T64", "Y65T74", "Y_GE75",
)  # fmt: skip
GROUPS = (
    "_T", "PWD", "ETHNIC_MIN", "INDIGENOUS", "DALIT", "RELIGIOUS_MIN", "SLUM", "REFUGEE_IDP",
    "MIGRANT", "LANDLESS",
)  # fmt: skip
TABLE_CELLS = len(AGES) * len(GROUPS)
INDICATORS = (
    "1.1.1", "1.2.1", "1.3.1", "1.4.2", "2.1.2", "3.7.2", "3.8.1", "4.1.1", "4.2.2", "4.5.1",
    "5.2.1", "5.5.1", "6.1.1", "8.5.1", "8.5.2", "8.6.1", "10.2.1", "10.3.1", "16.7.2", "16.9.1",
)  # fmt: skip
# ISO 3166-1 alpha-3 -> alpha-2, which starts the country's P-codes (`KE003`).
COUNTRIES = {
    "BGD": "BD", "KEN": "KE", "NPL": "NP", "IND": "IN", "MWI": "MW",
    "UGA": "UG", "TZA": "TZ", "ETH": "ET", "NGA": "NG", "PAK": "PK",
}  # fmt: skip
YEARS = tuple(str(year) for year in range(2015, 2025))
CSV_COLUMNS = (
    "indicator", "ref_area", "sub_area", "time_period", "age", "group", "value", "unit", "n",
)  # fmt: skip

# The two questions the query benchmarks ask: (indicator, country) -> cells they return.
SMALL_QUERY = ("3.8.1", "BGD")  # national, ten years: 1,000 cells
LARGE_QUERY = ("4.1.1", "KEN")  # national and nine sub-national areas, ten years: 10,000 cells
TYPICAL_COVERAGE_COUNTRY = "BGD"


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One 100-cell table: an indicator in one area in one year."""

    indicator: str
    ref_area: str
    sub_area: str
    year: str


def sub_areas(country: str, count: int) -> list[str]:
    """The national level ("") and `count - 1` P-coded sub-national areas of `country`."""
    alpha2 = COUNTRIES[country]
    return ["", *(f"{alpha2}{i:03d}" for i in range(1, count))]


def query_tables(*, indicators: int, countries: int, large: bool) -> list[TableSpec]:
    """The node of the query benchmarks: every indicator x country at national level over ten
    years (1,000 cells each), and `LARGE_QUERY` with ten areas (10,000 cells) when `large`."""
    tables: list[TableSpec] = []
    # A smaller node keeps the two questions' indicators, in their place among the others (so
    # that their cells sit mid-table, not where a scan in id order would meet them first).
    questions = {SMALL_QUERY[0], LARGE_QUERY[0]}
    others = [code for code in INDICATORS if code not in questions][: indicators - len(questions)]
    chosen = [code for code in INDICATORS if code in questions or code in others]
    for indicator in chosen:
        for country in list(COUNTRIES)[:countries]:
            areas = (
                sub_areas(country, 10) if large and (indicator, country) == LARGE_QUERY else [""]
            )
            tables.extend(
                TableSpec(indicator, country, area, year) for area in areas for year in YEARS
            )
    return tables


def bulk_tables(cells: int) -> list[TableSpec]:
    """`cells` cells (a multiple of 100, at most 1,000,000) over 20 indicators, 10 countries,
    5 areas each and 10 years; a smaller node holds the earlier years."""
    tables = [
        TableSpec(indicator, country, sub_areas(country, 5)[area], year)
        for year in YEARS
        for area in range(5)
        for country in COUNTRIES
        for indicator in INDICATORS
    ]
    wanted = cells // TABLE_CELLS
    if wanted > len(tables):
        raise ValueError(f"at most {len(tables) * TABLE_CELLS} cells, not {cells}")
    return tables[:wanted]


def table_rows(spec: TableSpec, rng: random.Random) -> Iterator[tuple[str, ...]]:
    """The 100 rows of one table, margins included (bases add up; values are percentages)."""
    unit = "PERCENT"
    base: dict[tuple[str, str], int] = {}
    share: dict[tuple[str, str], float] = {}
    for age in AGES[1:]:
        for group in GROUPS[1:]:
            # One part in twenty is small, so some cells fall below the threshold of 10.
            n = rng.randint(2, 9) if rng.random() < 0.05 else rng.randint(20, 400)
            base[age, group] = n
            share[age, group] = rng.uniform(5.0, 95.0)
    for age in AGES:
        for group in GROUPS:
            parts = [
                (a, g)
                for a in (AGES[1:] if age == "_T" else (age,))
                for g in (GROUPS[1:] if group == "_T" else (group,))
            ]
            n = sum(base[p] for p in parts)
            value = sum(base[p] * share[p] for p in parts) / n
            yield (
                spec.indicator, spec.ref_area, spec.sub_area, spec.year, age, group,
                f"{value:.1f}", unit, str(n),
            )  # fmt: skip


def write_tidy_csv(path: Path, tables: Sequence[TableSpec], *, seed: int = SEED) -> int:
    """Write `tables` as one tidy CSV; returns the number of rows written."""
    # Invented, reproducible figures: a seeded PRNG is what is wanted, not a secure one.
    rng = random.Random(seed)
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for spec in tables:
            for row in table_rows(spec, rng):
                writer.writerow(row)
                rows += 1
    return rows
