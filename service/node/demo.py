"""Demo data: three fictional civil-society organisations and the tidy CSV files their nodes load.

`lnob demo` starts one node per organisation and a coordinator. The organisations, their people
and their figures are invented; the codes are real (SDG indicators and SDMX series, ISO 3166
areas, SDMX disaggregation codes, the product's group codes), and the figures sit in plausible
ranges, so the stocktake, gap analysis and pooling look like the real thing.

The organisations (`DEMO_ORGANISATIONS`; datasets and tables in `demo_catalogue`):

- **Riverbend Inclusion Collective** (`riverbend`, node in Dhaka) works on discrimination by
  caste, ethnicity, religion, disability and sexual orientation or gender identity, in
  Bangladesh, India, Nepal and Kenya. Datasets: a public Voice and Inclusion Survey 2024 (10.3.1,
  16.7.2, 1.3.1, 3.7.2 by group, sex, age and urbanisation); a land-rights scorecard for Dalit
  and Adivasi communities (1.4.2) released to the coalition but discoverable by anyone; pooled
  2014-2016 intimate partner violence rounds (5.2.1) that only the owner may read and the
  coalition may discover; an LGBTIQ+ safety check (16.1.3, 10.3.1, 16.6.2) that only the owner
  sees at all; a disability inclusion audit (1.3.1 disability benefit, 8.5.2 by disability)
  for government partners.
- **Commons Voice Alliance** (`commons-voice`, node in Nairobi) does social accountability:
  a public citizen-led learning assessment (4.1.1, every county of Kenya and district of
  Malawi by sex, urbanisation and wealth quintile, about 17,000 cells); community health
  scorecards (3.8.1 as a 0-100 score, 16.6.2) for government partners; a public citizen voice
  survey (1.3.1, 16.7.2); a coalition-only enumeration of slums and refugee camps (16.9.1 as
  counts of children, 1.4.1).
- **Lantern Livelihoods Network** (`lantern`, node in Kathmandu) works on rural livelihoods,
  land, migration and food security: a public rural livelihoods panel (8.5.2 with confidence
  intervals, 8.6.1, 1.3.1, 10.2.1); a 2014-2016 land tenure baseline (1.4.2) for government
  partners; migrant earnings and recruitment costs (8.5.1 and 10.7.1 as means) that only the
  owner reads; quarterly food security monitoring in 2025 (2.1.2 as a percentage and as a
  count; the latest quarter provisional) released to the coalition, discoverable by anyone.

What the data is built to show (`DESIGNED_GAPS` and `POOLABLE_TABLES` state it as data; the
tests check it against the generated rows). With a five-year staleness threshold in 2026:

- No data: for example intimate partner violence (5.2.1) in Kenya, discrimination against
  ethnic minorities (10.3.1) and UHC coverage (3.8.1) in Viet Nam, social protection for
  refugees in Malawi (1.3.1), unemployment (8.5.2) in Malawi.
- Stale: 5.2.1 in Bangladesh (everyone, religious minorities) and for Dalit women in Nepal,
  only 2014/2016; 1.4.2 in Bangladesh, for landless households in Malawi and for indigenous
  peoples in Nepal, only 2014-2016.
- Single source: 1.4.2 for Dalit in Nepal, learning (4.1.1) in Kenya and Malawi, 3.8.1 for
  people living with HIV in Kenya, 2.1.2 for refugees in Kenya, 16.9.1 for refugees in
  Bangladesh, 16.1.3 for LGBTIQ+ people in Kenya. Several sit in datasets that a public caller
  may discover but not read, or not even discover, so the stocktake differs by caller.
- Several sources with the same indicator, series, unit, breakdown and period, ready to
  compare and pool: social assistance coverage (1.3.1, SI_COV_SOCAST, by sex, 2024) in
  Bangladesh and Kenya from all three organisations and in Nepal from two; 16.7.2 by sex and
  age in Bangladesh and Kenya from two. Unemployment (8.5.2) in Kenya and Bangladesh has two
  sources with different series (by age; by disability): covered, but not poolable.

Every cell has a base `n`. Every table is a full cross-tabulation with its `_T` margins (counts
and n add up, percentages are n-weighted means of their parts), and national cells of tables
with sub-national areas are the sum of those areas. Small groups and small areas give cells
below n = 10 and below 5, and `DemoTable.small_cells` forces tables with exactly one small cell,
so complementary suppression has work to do.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from service.node.demo_catalogue import (
    DEMO_ORGANISATIONS,
    DESIGNED_GAPS,
    GROUP_COUNTRIES,
    GROUP_DISADVANTAGE,
    GROUP_SAMPLE_SHARE,
    POOLABLE_TABLES,
    TABLES,
    URBAN_SHARE,
    DemoDataset,
    DemoOrganisation,
    DemoTable,
    DesignedGap,
    Dimension,
    PoolableTable,
)
from service.node.ingest.records import TIDY_COLUMNS
from service.node.ingest.writer import DatasetMeta

__all__ = [
    "DEMO_ORGANISATIONS",
    "DESIGNED_GAPS",
    "POOLABLE_TABLES",
    "DemoDataset",
    "DemoOrganisation",
    "DesignedGap",
    "PoolableTable",
    "dataset_meta",
    "generate_rows",
    "write_demo_files",
]

logger = logging.getLogger(__name__)

TOTAL = "_T"
DEFAULT_SEED = 2026
# Cells forced small get 2 to 8 people; the rest of their table at least this many.
_SMALL_N = (2, 8)
_LARGE_N = 15
_DECIMALS = {"PERCENT": 1, "RATE": 1, "NUMBER": 0, "MEAN": 2, "SCORE": 1}
_Z95 = 1.959964
# Population share and disadvantage (logit scale) of the codes every table shares.
_QUINTILES = {
    "Q1": (0.2, 0.6), "Q2": (0.2, 0.3), "Q3": (0.2, 0.0), "Q4": (0.2, -0.25), "Q5": (0.2, -0.55),
}  # fmt: skip
_DISABILITY = {"PD": (0.12, 0.5), "PWD": (0.88, -0.05)}
_URBAN_DISADVANTAGE = {"U": -0.15, "R": 0.2}


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a cell is: its share of the country's sample, urban share and disadvantage."""

    sub_area: str
    weight: float
    urban_share: float
    disadvantage: float


@dataclass(frozen=True, slots=True)
class _Tally:
    n: int
    amount: float  # people with the outcome, or n x mean for MEAN and SCORE

    def __add__(self, other: _Tally) -> _Tally:
        return _Tally(self.n + other.n, self.amount + other.amount)


Leaves = dict[tuple[str, ...], _Tally]


def generate_rows(
    org: DemoOrganisation, dataset: DemoDataset, *, seed: int
) -> Iterator[dict[str, str]]:
    """The tidy rows of one demo dataset (column -> text), the same for the same seed."""
    try:
        tables = TABLES[(org.node_id, dataset.slug)]
    except KeyError:
        raise KeyError(f"{org.node_id} has no demo dataset {dataset.slug!r}") from None
    for index, table in enumerate(tables):
        # Reproducible invented figures, not secrets: a seeded PRNG is what is wanted.
        rng = random.Random(f"{seed}/{org.node_id}/{dataset.slug}/{index}")  # noqa: S311
        yield from _table_rows(table, rng, seed)


def write_demo_files(
    org: DemoOrganisation, folder: Path, *, seed: int = DEFAULT_SEED
) -> list[tuple[DemoDataset, Path]]:
    """Write one tidy CSV per dataset of `org` into `folder` as `<slug>.csv`.

    The same seed gives byte-identical files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[DemoDataset, Path]] = []
    for dataset in org.datasets:
        path = folder / f"{dataset.slug}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=TIDY_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(generate_rows(org, dataset, seed=seed))
        written.append((dataset, path))
    logger.info("wrote %d demo datasets of %s to %s", len(written), org.node_id, folder)
    return written


def dataset_meta(org: DemoOrganisation, dataset: DemoDataset) -> DatasetMeta:
    """The metadata to ingest a demo file with."""
    return DatasetMeta(
        slug=dataset.slug,
        title=dataset.title,
        organisation=org.organisation,
        methodology=dataset.methodology,
        collection_period=dataset.collection_period,
        licence=dataset.licence,
        contact=dataset.contact,
        release_level=dataset.release_level,
        discovery_level=dataset.discovery_level,
        published=dataset.published,
    )


def _table_rows(table: DemoTable, rng: random.Random, seed: int) -> Iterator[dict[str, str]]:
    instances = [
        (country, period, group)
        for country in table.areas
        for period in table.periods
        for group in table.groups
        if country in GROUP_COUNTRIES[group]
    ]
    places = {
        country: _places(seed, country, table.sub_areas.get(country, ())) for country in table.areas
    }
    drawn = [
        (i, place.sub_area)
        for i, (country, _, _) in enumerate(instances)
        for place in places[country]
    ]
    count = min(table.small_cells, len(drawn)) if table.breakdown else 0
    forced = set(rng.sample(drawn, count))
    for i, (country, period, group) in enumerate(instances):
        by_place = {
            place.sub_area: _draw_leaves(
                table, rng, country, period, group, place, (i, place.sub_area) in forced
            )
            for place in places[country]
        }
        if "" not in by_place:
            national: Leaves = {}
            for leaves in by_place.values():
                for key, tally in leaves.items():
                    national[key] = national[key] + tally if key in national else tally
            by_place = {"": national, **by_place}
        for sub_area, leaves in by_place.items():
            for codes, tally in _margins(table.breakdown, leaves):
                yield from _rows(table, country, sub_area, period, group, codes, tally)


def _places(seed: int, country: str, sub_areas: tuple[str, ...]) -> list[_Place]:
    if not sub_areas:
        return [_Place("", 1.0, URBAN_SHARE[country], 0.0)]
    places = []
    for sub_area in sub_areas:
        # Seeded by the area alone: a poorer district is poorer in every organisation's data.
        rng = random.Random(f"{seed}/place/{sub_area}")  # noqa: S311
        urban = min(0.9, max(0.05, URBAN_SHARE[country] * (0.5 + rng.random())))
        places.append(_Place(sub_area, 0.6 + 0.8 * rng.random(), urban, rng.gauss(0.0, 0.3)))
    total = sum(place.weight for place in places)
    return [_Place(p.sub_area, p.weight / total, p.urban_share, p.disadvantage) for p in places]


def _codes(table: DemoTable, dimension: Dimension, place: _Place) -> dict[str, tuple[float, float]]:
    """Each code of a broken-down dimension: (population share, disadvantage)."""
    if dimension == "sex":
        return {"F": (0.51, table.female_gap / 2), "M": (0.49, -table.female_gap / 2)}
    if dimension == "age":
        return {code: (share, table.age_gap.get(code, 0.0)) for code, share in table.ages.items()}
    if dimension == "urbanisation":
        urban = place.urban_share
        return {"U": (urban, _URBAN_DISADVANTAGE["U"]), "R": (1 - urban, _URBAN_DISADVANTAGE["R"])}
    if dimension == "disability_status":
        return _DISABILITY
    return _QUINTILES


def _draw_leaves(
    table: DemoTable,
    rng: random.Random,
    country: str,
    period: str,
    group: str,
    place: _Place,
    force_small: bool,
) -> Leaves:
    year = int(re.findall(r"\d{4}", period)[-1])
    harm = place.disadvantage - table.trend * (year - 2020)
    if table.group_gaps:
        harm += GROUP_DISADVANTAGE[group]
    people = table.base_n * GROUP_SAMPLE_SHARE[group] * place.weight * rng.uniform(0.9, 1.1)
    codes = [_codes(table, dimension, place) for dimension in table.breakdown]
    cells: list[tuple[tuple[str, ...], int, float]] = []
    for combination in itertools.product(*(tuple(c.items()) for c in codes)):
        share = math.prod(share for _, (share, _) in combination)
        n = max(1, round(people * share * rng.uniform(0.85, 1.15)))
        effect = sum(gap for _, (_, gap) in combination) + rng.gauss(0.0, 0.08)
        cells.append((tuple(code for code, _ in combination), n, harm + effect))
    if force_small:
        small = rng.randrange(len(cells))
        cells = [
            (key, rng.randint(*_SMALL_N) if i == small else max(n, _LARGE_N), cell_harm)
            for i, (key, n, cell_harm) in enumerate(cells)
        ]
    return {
        key: _Tally(n, _draw_amount(table, rng, country, cell_harm, n))
        for key, n, cell_harm in cells
    }


def _draw_amount(table: DemoTable, rng: random.Random, country: str, harm: float, n: int) -> float:
    level = table.level[country]
    shift = -harm if table.higher_is_better else harm
    if table.unit == "MEAN":
        return n * level * math.exp(0.5 * shift + rng.gauss(0.0, 0.3 / math.sqrt(n)))
    if table.unit == "SCORE":
        score = 100 * _sigmoid(_logit(level / 100) + shift) + rng.gauss(0.0, 10 / math.sqrt(n))
        return n * min(100.0, max(0.0, score))
    p = _sigmoid(_logit(level / 1000 if table.unit == "RATE" else level) + shift)
    people = round(n * p + rng.gauss(0.0, math.sqrt(n * p * (1 - p))))
    return float(min(n, max(0, people)))


def _margins(
    breakdown: tuple[Dimension, ...], leaves: Leaves
) -> Iterator[tuple[dict[str, str], _Tally]]:
    """Every cell of the table: the leaves and all their `_T` totals, the grand total first."""
    for kept in sorted(itertools.product((False, True), repeat=len(breakdown)), key=sum):
        cells: dict[tuple[str, ...], _Tally] = {}
        for codes, tally in leaves.items():
            key = tuple(code if keep else TOTAL for code, keep in zip(codes, kept, strict=True))
            cells[key] = cells[key] + tally if key in cells else tally
        for key, tally in cells.items():
            yield dict(zip(breakdown, key, strict=True)), tally


def _rows(
    table: DemoTable,
    country: str,
    sub_area: str,
    period: str,
    group: str,
    codes: Mapping[str, str],
    tally: _Tally,
) -> Iterator[dict[str, str]]:
    row = dict.fromkeys(TIDY_COLUMNS, "")
    row.update(
        indicator=table.indicator,
        series=table.series,
        ref_area=country,
        sub_area=sub_area,
        time_period=period,
        sex=TOTAL,
        age=TOTAL,
        disability_status=TOTAL,
        urbanisation=TOTAL,
        income_wealth_quantile=TOTAL,
        group=group,
        unit=table.unit,
        n=str(tally.n),
        obs_status="P" if period in table.provisional else "",
        note=table.note,
    )
    row.update(table.fixed)
    row.update(codes)
    scale = {"PERCENT": 100, "RATE": 1000}.get(table.unit)
    if scale is None:
        value = tally.amount if table.unit == "NUMBER" else tally.amount / tally.n
        row["value"] = _format(value, _DECIMALS[table.unit])
        yield row
        return
    row["value"] = _format(scale * tally.amount / tally.n, _DECIMALS[table.unit])
    row["numerator"] = _format(tally.amount, 0)
    if table.confidence:
        lower, upper = _wilson(round(tally.amount), tally.n)
        row["lower"] = _format(scale * lower, 1)
        row["upper"] = _format(scale * upper, 1)
    yield row
    if table.count_series:
        yield {
            **row,
            "series": table.count_series,
            "unit": "NUMBER",
            "value": _format(tally.amount, 0),
            "numerator": "",
            "lower": "",
            "upper": "",
        }


def _format(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _wilson(people: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion; it always contains people / n."""
    p = people / n
    z2 = _Z95 * _Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))
