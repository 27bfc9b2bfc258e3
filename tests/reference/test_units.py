"""SDMX UNIT_MEASURE codes and the product's five units."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from service.reference import Reference
from service.reference.units import SDMX_UNITS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "codelists.md"


@pytest.mark.parametrize(
    ("unit_measure", "unit"),
    [
        ("PT", "PERCENT"),
        ("NUMBER", "NUMBER"),
        ("PER_1000_LIVE_BIRTHS", "RATE"),
        ("PER_100000_LIVE_BIRTHS", "RATE"),
        ("PER_100000_POP", "RATE"),
        ("PER_1000_UNINFECTED_POP", "RATE"),
        ("RO", "RATE"),
        ("PROB", "RATE"),
        ("IX", "SCORE"),
        ("SCORE", "SCORE"),
        (" PT ", "PERCENT"),
        # No product unit: the caller decides rather than the product guessing.
        ("USD", None),
        ("HA", None),
        ("BOOL", None),
        ("PER_1000_USD", None),
        ("pt", None),
        ("", None),
        ("NOT_A_UNIT", None),
    ],
)
def test_units_from_sdmx(reference: Reference, unit_measure: str, unit: str | None) -> None:
    assert reference.units_from_sdmx(unit_measure) == unit


def test_every_mapped_sdmx_unit_exists_and_lands_on_a_product_unit(reference: Reference) -> None:
    sdmx = reference.codelist("UNIT_MEASURE")
    product = reference.codelist("UNIT")
    for unit_measure, unit in SDMX_UNITS.items():
        assert unit_measure in sdmx, unit_measure
        assert unit in product, unit


def test_units_of_the_official_series(reference: Reference) -> None:
    expectations = [e for e in reference.official_expectations() if e.unit_measure]
    units = Counter(e.unit for e in expectations)
    assert units == {"PERCENT": 328, "NUMBER": 134, "RATE": 48, "SCORE": 15, None: 135}
    # What has no product unit is money, area, mass, volume and the like, never people.
    unmapped = {e.unit_measure for e in expectations if e.unit is None}
    assert {"USD", "KM2", "T", "HA", "BOOL"} <= unmapped
    assert not {code for code in unmapped if code and code.startswith("PER_")}


def test_docs_list_every_unit_mapping() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(): line for line in docs.splitlines() if line.startswith("| `")
    }
    for unit_measure, unit in SDMX_UNITS.items():
        assert f"`{unit_measure}`" in rows[f"`{unit}`"], unit_measure
