"""The SDG framework, the codelists and the packaged data, as other modules rely on them."""

from __future__ import annotations

import time
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from service.reference import Code, Codelist, Reference, load_reference
from service.reference.reference import (
    AREA_FILE,
    CONSTRAINTS_FILE,
    FRAMEWORK_FILE,
    SDMX_CODELISTS,
    SERIES_FILE,
)

SHIPPED_FROM = {
    FRAMEWORK_FILE: "sdg-framework",
    AREA_FILE: "sdmx-sdg-dsd",
    SERIES_FILE: "sdmx-sdg-dsd",
    CONSTRAINTS_FILE: "sdmx-sdg-dsd",
    **{f"{codelist_id}.csv": "sdmx-sdg-dsd" for codelist_id, _ in SDMX_CODELISTS.values()},
}


def _data_dir() -> Path:
    return Path(str(resources.files("service.reference") / "data"))


def test_framework_counts(reference: Reference) -> None:
    assert len(reference.goals) == 17
    assert len(reference.targets) == 169
    # 249 rows: 248 numbered indicators plus the placeholder row of target 11.c.
    assert len(reference.indicators) == 248
    assert len({indicator.code for indicator in reference.indicators}) == 248
    # Twelve indicators repeat under two or three targets (16 extra numbers), sharing one UNSD
    # code, so the list holds 232 distinct indicators. UNSD itself counts 231, with thirteen
    # repeats: the shipped list pairs one fewer, and the product counts what it ships.
    by_unsd = Counter(indicator.unsd_code for indicator in reference.indicators)
    assert len(by_unsd) == 232
    repeated = {code: n for code, n in by_unsd.items() if n > 1}
    assert len(repeated) == 12
    assert sum(n - 1 for n in repeated.values()) == 16


def test_repeated_indicator_keeps_every_number(reference: Reference) -> None:
    numbers = [i.code for i in reference.indicators if i.unsd_code == "C200303"]
    assert numbers == ["1.5.1", "11.5.1", "13.1.1"]
    thirteen = reference.indicator("13.1.1")
    assert thirteen is not None
    assert (thirteen.target, thirteen.goal) == ("13.1", "13")


def test_target_without_indicator_is_kept_as_target_only(reference: Reference) -> None:
    assert "11.c" in {target.code for target in reference.targets}
    assert not [i for i in reference.indicators if i.target == "11.c"]
    assert reference.indicator("0") is None


def test_titles_are_clean(reference: Reference) -> None:
    goal_5 = reference.goals[4]
    assert (goal_5.code, goal_5.title) == ("5", "Gender Equality")
    indicator = reference.indicator("5.2.1")
    assert indicator is not None
    assert indicator.unsd_code == "C050201"
    assert indicator.title.startswith("Proportion of ever-partnered women")
    titles = [t.title for t in reference.targets] + [i.title for i in reference.indicators]
    assert all(title == title.strip() and "\xa0" not in title for title in titles)
    assert all(title for title in titles)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.8.1", "3.8.1"),
        (" 3.8.1 ", "3.8.1"),
        ("3-8-1", "3.8.1"),
        ("3_8_1", "3.8.1"),
        ("03.08.01", "3.8.1"),
        ("C030801", "3.8.1"),
        ("c030801", "3.8.1"),
        ("16.B.1", "16.b.1"),
        ("16-b-1", "16.b.1"),
        ("C130b02", "13.b.1"),  # UNSD codes are looked up, not parsed
        ("C130B02", "13.b.1"),
        ("C200303", "1.5.1"),  # a repeated indicator's code names its first number
        ("11.5.3", "11.5.3"),
        ("3.8.9", None),  # well formed, not in the framework
        ("18.1.1", None),
        ("3.8", None),
        ("3.8.1.1", None),
        ("C999999", None),
        ("", None),
        ("three", None),
        ("\uff13.\uff18.\uff11", None),  # full-width digits are not ASCII numbers
    ],
)
def test_normalise_indicator(reference: Reference, text: str, expected: str | None) -> None:
    assert reference.normalise_indicator(text) == expected


def test_every_indicator_normalises_to_itself(reference: Reference) -> None:
    for indicator in reference.indicators:
        assert reference.normalise_indicator(indicator.code) == indicator.code
        assert reference.normalise_indicator(indicator.code.replace(".", "-")) == indicator.code


@pytest.mark.parametrize(
    ("dimension", "codelist_id", "size", "codes"),
    [
        ("SEX", "CL_SEX", 7, ["_T", "F", "M"]),
        ("AGE", "CL_AGE", 145, ["_T", "Y15T24", "Y_GE60"]),
        ("DISABILITY_STATUS", "CL_DISABILITY", 3, ["_T", "PD", "PWD"]),
        ("URBANISATION", "CL_URBANISATION", 5, ["_T", "U", "R"]),
        ("INCOME_WEALTH_QUANTILE", "CL_QUANTILE", 10, ["_T", "Q1", "B40"]),
        ("UNIT_MEASURE", "CL_UNIT_MEASURE", 52, ["PT", "NUMBER", "IX"]),
        ("OBS_STATUS", "CL_OBS_STATUS", 20, ["A", "E", "Q"]),
        ("COMPOSITE_BREAKDOWN", "CL_COMP_BREAKDOWN", 336, ["_T", "MS_MIGRANT", "GRD_ETH"]),
        ("SERIES", "CL_SERIES", 783, ["SI_POV_DAY1", "SH_ACS_UNHC"]),
        ("GROUP", "CL_GROUP", 14, ["_T", "PWD", "DALIT", "LANDLESS"]),
        ("UNIT", "CL_UNIT", 5, ["NUMBER", "PERCENT", "RATE", "MEAN", "SCORE"]),
    ],
)
def test_codelists(
    reference: Reference, dimension: str, codelist_id: str, size: int, codes: list[str]
) -> None:
    codelist = reference.codelist(dimension)
    assert codelist.id == codelist_id
    assert codelist.name
    assert len(codelist) == size == len(list(codelist))
    for code in codes:
        assert code in codelist
        found = codelist.get(code)
        assert found is not None
        assert found.code == code
        assert found.name == found.name.strip()


def test_codelist_is_an_ordered_read_only_mapping(reference: Reference) -> None:
    sex = reference.codelist("SEX")
    assert [code.code for code in sex][:3] == ["_T", "F", "M"]
    assert sex.get("F") == Code("F", "Female")
    assert sex.get("X") is None
    assert "X" not in sex
    assert 1 not in sex
    urbanisation = reference.codelist("URBANISATION")
    assert urbanisation.get("CITY") == Code("CITY", "City", "U")
    with pytest.raises(AttributeError):
        sex.id = "CL_OTHER"  # type: ignore[misc]
    with pytest.raises(KeyError, match="'X' is not a code of CL_SEX"):
        sex["X"]


def test_codelist_refuses_a_duplicate_code() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        Codelist("CL_TEST", "Test", [Code("A", "a"), Code("A", "again")])


def test_unknown_codelist_is_a_clear_key_error(reference: Reference) -> None:
    with pytest.raises(KeyError, match=r"no codelist for dimension 'ETHNICITY'; known: SEX, "):
        reference.codelist("ETHNICITY")


def test_series_to_indicators(reference: Reference) -> None:
    assert reference.indicators_for_series("SI_POV_DAY1") == ("1.1.1",)
    assert reference.indicators_for_series("VC_DSR_MISS") == ("1.5.1", "11.5.1", "13.1.1")
    assert reference.indicators_for_series("SG_POV_DOM") == ()  # no global indicator
    assert reference.indicators_for_series("NOT_A_SERIES") == ()
    for series in reference.codelist("SERIES"):
        for number in reference.indicators_for_series(series.code):
            assert reference.indicator(number) is not None, (series.code, number)


def test_shipped_files_are_the_sources_unchanged(shared_data: Path) -> None:
    for name, folder in SHIPPED_FROM.items():
        shipped = (_data_dir() / name).read_bytes()
        assert shipped == (shared_data / folder / name).read_bytes(), name


def test_sources_page_names_every_shipped_file() -> None:
    sources = (_data_dir() / "SOURCES.md").read_text(encoding="utf-8")
    shipped = {path.name for path in _data_dir().glob("*.csv")}
    assert shipped == set(SHIPPED_FROM)
    for name in shipped:
        assert f"`{name}`" in sources, name
    for commit in ("2a38032", "0b450bf"):
        assert commit in sources


def test_load_is_cached_and_fast() -> None:
    load_reference.cache_clear()
    started = time.perf_counter()
    first = load_reference()
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"first load took {elapsed:.3f} s"
    assert load_reference() is first
