"""Countries (ISO 3166-1 alpha-3 <-> UN M49) and sub-national areas (ISO 3166-2, P-codes)."""

from __future__ import annotations

import csv
import io
from importlib import resources

import pycountry
import pytest

from service.reference import Reference


def test_m49_round_trips_for_every_country_of_cl_area(reference: Reference) -> None:
    countries = 0
    for m49 in _cl_area_m49_codes():
        if pycountry.countries.get(numeric=m49.zfill(3)) is None:
            continue
        countries += 1
        iso3 = reference.iso3_from_m49(m49)
        assert iso3 is not None and reference.is_country(iso3), m49
        assert reference.m49_from_iso3(iso3) == m49
    # Every ISO 3166-1 country is in CL_AREA.
    assert countries == len(pycountry.countries) == 249


@pytest.mark.parametrize("m49", ["50", "050", 50, " 50 "])
def test_m49_spellings(reference: Reference, m49: str | int) -> None:
    assert reference.iso3_from_m49(m49) == "BGD"


@pytest.mark.parametrize(
    "m49",
    ["1", "34", "199", "412", "680", "830", 99018, "", "abc", "-50", "5000", True],
)
def test_regions_groupings_and_nonsense_are_no_country(reference: Reference, m49: str) -> None:
    assert reference.iso3_from_m49(m49) is None


def test_m49_is_written_as_cl_area_writes_it(reference: Reference) -> None:
    assert reference.m49_from_iso3("BGD") == "50"
    assert reference.m49_from_iso3("AFG") == "4"
    assert reference.m49_from_iso3("GBR") == "826"
    assert reference.m49_from_iso3("XKX") is None
    assert reference.m49_from_iso3("bgd") is None


def test_countries(reference: Reference) -> None:
    assert reference.is_country("BGD")
    assert reference.is_country("NPL")
    assert not reference.is_country("bgd")
    assert not reference.is_country("BD")
    assert not reference.is_country("XKX")  # Kosovo: user-assigned, not ISO 3166-1
    assert not reference.is_country("")
    assert reference.country_name("BGD") == "Bangladesh"
    # UN names, as SDG reporting writes them.
    assert reference.country_name("BOL") == "Bolivia (Plurinational State of)"
    assert reference.country_name("ZZZ") is None


@pytest.mark.parametrize(
    ("iso3", "code", "expected"),
    [
        ("BGD", "BD-13", True),  # Dhaka district
        ("BGD", "BD-C", True),  # Dhaka division
        ("NPL", "NP-P3", True),
        ("GBR", "GB-ENG", True),
        ("BGD", "NP-P3", False),  # a code of another country
        ("NPL", "BD-13", False),
        ("BGD", "BD-99", False),  # shaped right, not in ISO 3166-2
        ("BGD", "bd-13", False),
        ("BGD", "BD13-", False),
        # Humanitarian P-codes: alpha-2 then digits.
        ("BGD", "BD30", True),
        ("BGD", "BD3026", True),
        ("NPL", "NP0301", True),
        ("KEN", "KE047", True),
        ("BGD", "NP0301", False),
        ("BGD", "BD", False),
        ("BGD", "BD3O", False),
        ("BGD", "BGD30", False),
        ("BGD", " BD30", False),
        ("XXX", "XX30", False),
        ("bgd", "BD30", False),
    ],
)
def test_subdivisions(reference: Reference, iso3: str, code: str, expected: bool) -> None:
    assert reference.is_subdivision(iso3, code) is expected


def _cl_area_m49_codes() -> list[str]:
    text = (resources.files("service.reference") / "data" / "CL_AREA.csv").read_text("utf-8")
    return [row["code"] for row in csv.DictReader(io.StringIO(text)) if row["code"].isdigit()]
