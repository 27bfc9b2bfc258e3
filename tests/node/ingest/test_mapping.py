from __future__ import annotations

from pathlib import Path

import pytest

from service.node.ingest.mapping import (
    NO_MAPPING,
    Exclusions,
    Unmapped,
    load_mapping,
    scaled,
    unit_multiplier,
)
from service.node.ingest.records import Excluded


def write_mapping(folder: Path, columns: str | None, codes: str | None) -> Path:
    folder.mkdir(exist_ok=True)
    if columns is not None:
        (folder / "column_mapping.csv").write_text(columns, encoding="utf-8")
    if codes is not None:
        (folder / "code_mapping.csv").write_text(codes, encoding="utf-8")
    return folder


def test_the_uk_mapping_folder_loads_every_entry(shared_data: Path) -> None:
    mapping, problems = load_mapping(shared_data / "open-sdg-uk")

    assert problems == []
    assert mapping.concept("Sex") == "SEX"
    assert mapping.concept("Urban or Rural") == "URBANISATION"
    assert mapping.concept("Ethnicity") is None
    assert mapping.code("SEX", "Female") == "F"
    assert mapping.code("OBS_STATUS", "Normal value") == "A"
    assert mapping.code("UNIT_MEASURE", "Percentage (%)") == "PT"
    assert mapping.code("UNIT_MULT", "Thousands") == "3"
    assert mapping.code("AGE", "16 to 24") == "Y16T24"
    assert mapping.code("SEX", "Girls") is None
    # Labels are matched per concept: "Male" is a SEX label, not an AGE one.
    assert mapping.code("AGE", "Male") is None


def test_matching_ignores_case_and_spacing_but_nothing_else(shared_data: Path) -> None:
    mapping, _ = load_mapping(shared_data / "open-sdg-uk")

    # UK files write "Urban or Rural" and "Urban or rural", "Normal value" and "Normal Value".
    assert mapping.concept("Urban or rural") == "URBANISATION"
    assert mapping.concept("  urban  OR rural ") == "URBANISATION"
    assert mapping.code("OBS_STATUS", "Normal Value") == "A"
    assert mapping.code("OBS_STATUS", "Normal values") is None
    assert mapping.code("SEX", "Females") is None


def test_no_folder_maps_nothing() -> None:
    assert load_mapping(None) == (NO_MAPPING, [])
    assert NO_MAPPING.concept("Sex") is None


def test_either_file_may_be_absent(tmp_path: Path) -> None:
    folder = write_mapping(tmp_path / "mapping", None, "Text,Dimension,Value\nGirls,SEX,F\n")

    mapping, problems = load_mapping(folder)

    assert problems == []
    assert mapping.code("SEX", "girls") == "F"
    assert mapping.concept("Sex") is None


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda folder: folder / "missing", "a mapping folder"),
        (
            lambda folder: write_mapping(folder / "empty", None, None),
            "column_mapping.csv or code_mapping.csv in the mapping folder",
        ),
    ],
)
def test_a_folder_without_mapping_files_is_a_problem(
    tmp_path: Path, make: object, expected: str
) -> None:
    folder = make(tmp_path)  # type: ignore[operator]

    mapping, problems = load_mapping(folder)

    assert mapping == NO_MAPPING
    assert [problem.expected for problem in problems] == [expected]


def test_a_label_mapped_two_ways_is_a_problem_naming_both(tmp_path: Path) -> None:
    folder = write_mapping(
        tmp_path / "mapping",
        "Text,Value\nSex,SEX\nGender,SEX\n",
        "Text,Dimension,Value\nFemale,SEX,F\nGirls,SEX,F\nfemale,SEX,M\n",
    )

    _, problems = load_mapping(folder)

    assert len(problems) == 1
    problem = problems[0]
    assert (problem.file, problem.row, problem.column, problem.value) == (
        "code_mapping.csv", 4, "Text", "female",
    )  # fmt: skip
    assert "'F'" in problem.expected and "'M'" in problem.expected


def test_malformed_mapping_files_say_where(tmp_path: Path) -> None:
    folder = write_mapping(
        tmp_path / "mapping",
        "Label,Concept\nSex,SEX\n",
        "Text,Dimension,Value\nFemale,SEX\nMale,SEX,M\n",
    )

    _, problems = load_mapping(folder)

    assert [(p.file, p.row, p.expected) for p in problems] == [
        ("column_mapping.csv", 1, "the header Text,Value"),
        ("code_mapping.csv", 2, "3 non-blank cells"),
    ]


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("0", 0), ("3", 3), (" 6 ", 6), ("-2", -2), ("Units", None), ("3.0", None), ("16", None)],
)
def test_unit_multiplier_codes(code: str, exponent: int | None) -> None:
    assert unit_multiplier(code) == exponent


@pytest.mark.parametrize(
    ("value", "exponent", "expected"),
    [
        ("12.5", 3, "12500"),
        ("12.5", 0, "12.5"),
        ("1.25", 6, "1250000"),
        ("250", -2, "2.5"),
        ("0.1", 1, "1"),
        ("n/a", 3, "n/a"),  # left for validation to report
        ("NaN", 3, "NaN"),
    ],
)
def test_scaled_applies_the_multiplier_exactly(value: str, exponent: int, expected: str) -> None:
    assert scaled(value, exponent) == expected


def test_exclusions_name_each_reason_once_under_strict() -> None:
    girls = Unmapped("label 'Girls' of column 'Sex' is not mapped", "Sex", "Girls", "a SEX code")
    ethnicity = Unmapped("column 'Ethnicity' is not mapped", "Ethnicity", "Asian", "a mapping")

    lenient = Exclusions("f.csv", strict=False)
    assert list(lenient.verdict(2, [girls, ethnicity, girls])) == [
        Excluded(2, (girls.reason, ethnicity.reason))
    ]

    strict = Exclusions("f.csv", strict=True)
    first = list(strict.verdict(2, [girls]))
    again = list(strict.verdict(3, [girls, ethnicity]))
    assert [(p.row, p.column, p.value) for p in first + again] == [  # type: ignore[union-attr]
        (2, "Sex", "Girls"),
        (3, "Ethnicity", "Asian"),
    ]
