"""The global content constraints, read as what official statistics are expected to cover."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from service.reference import ALL, OfficialExpectation, Reference


def _by_series(reference: Reference) -> dict[str, OfficialExpectation]:
    return {e.series: e for e in reference.official_expectations()}


def test_one_expectation_per_row_of_the_constraints(
    reference: Reference, shared_data: Path
) -> None:
    path = shared_data / "sdmx-sdg-dsd" / "global_content_constraints.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expectations = reference.official_expectations()
    assert len(expectations) == len(rows) == 665
    assert [e.series for e in expectations] == [row["SERIES"] for row in rows]
    # A fresh list each time: callers may sort or filter it.
    expectations.clear()
    assert len(reference.official_expectations()) == 665


def test_codes_and_all(reference: Reference) -> None:
    poverty = _by_series(reference)["SI_POV_DAY1"]
    assert poverty.indicators == ("1.1.1",)
    assert (poverty.unit_measure, poverty.unit) == ("PT", "PERCENT")
    assert poverty.sex == ALL
    assert poverty.composite_breakdown == (
        "_T",
        "MS_MIGRANT",
        "MS_NOMIGRANT",
        "MS_EUMIGRANT",
        "MS_NONEUMIGRANT",
    )
    assert poverty.income_wealth_quantile == ("_T",)
    assert poverty.allowed("SEX") == ALL
    assert poverty.allows("SEX", "F")
    assert poverty.allows("COMPOSITE_BREAKDOWN", "MS_MIGRANT")
    assert not poverty.allows("COMPOSITE_BREAKDOWN", "GRD_ETH")
    assert not poverty.allows("INCOME_WEALTH_QUANTILE", "Q1")
    assert poverty.groups == ("_T", "PWD", "MIGRANT", "OLDER", "YOUTH")
    with pytest.raises(KeyError, match="'GROUP' is not a constrained dimension"):
        poverty.allowed("GROUP")


def test_every_listed_code_is_in_its_codelist(reference: Reference) -> None:
    checked = ["SEX", "AGE", "URBANISATION", "INCOME_WEALTH_QUANTILE"]
    checked += ["COMPOSITE_BREAKDOWN", "DISABILITY_STATUS"]
    for expectation in reference.official_expectations():
        for dimension in checked:
            allowed = expectation.allowed(dimension)
            if allowed != ALL:
                codelist = reference.codelist(dimension)
                assert all(code in codelist for code in allowed), (expectation.series, dimension)
        if expectation.unit_measure:
            assert expectation.unit_measure in reference.codelist("UNIT_MEASURE")


def test_quirks_of_the_draft(reference: Reference) -> None:
    by_series = _by_series(reference)
    # A trailing ";" leaves no empty code; a leading space is dropped.
    assert "" not in by_series["VC_DSR_MISS"].composite_breakdown
    assert by_series["EN_ATM_CO2"].activity == ("_T", "ISIC4_C10T32X19")
    # Five series leave every cell blank: nothing stated, no unit, no group.
    blank = [e for e in by_series.values() if e.unit_measure is None]
    assert len(blank) == 5
    assert all(e.sex == () and e.groups == () for e in blank)
    assert by_series["EN_SCP_FRMNLG"].indicators == ("12.6.1",)


def test_indicators_from_name_and_series_map(reference: Reference) -> None:
    by_series = _by_series(reference)
    # The name says 11.5.2, the series map 11.5.3: both are kept, the name's first.
    assert by_series["VC_DSR_CDAN"].indicators == ("11.5.2", "11.5.3")
    assert by_series["EN_EWT_RCYR"].indicators == ("12.4.2", "12.5.1")
    assert by_series["VC_DSR_MISS"].indicators == ("1.5.1", "11.5.1", "13.1.1")
    # No bracket and no global indicator.
    assert by_series["SG_POV_DOM"].indicators == ()
    indicators = {e for x in by_series.values() for e in x.indicators}
    assert all(reference.indicator(code) is not None for code in indicators)


def test_groups_official_statistics_speak_of(reference: Reference) -> None:
    discrimination = _by_series(reference)["VC_VOV_GDSD"]
    assert discrimination.indicators == ("10.3.1", "16.b.1")
    assert set(discrimination.groups) >= {"ETHNIC_MIN", "RELIGIOUS_MIN", "LGBTIQ", "MIGRANT"}
    spoken_of = {group for e in reference.official_expectations() for group in e.groups}
    never = {g.code for g in reference.groups} - spoken_of
    assert never == {"INDIGENOUS", "DALIT", "SLUM", "REFUGEE_IDP", "PLHIV", "LANDLESS"}
