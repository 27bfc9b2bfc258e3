"""The product's group codelist and its mapping to and from SDMX."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from service.reference import Reference
from service.reference.groups import FROM_SDMX

DOCS = Path(__file__).resolve().parents[2] / "docs" / "codelists.md"
GROUP_CODES = [
    "_T",
    "PWD",
    "ETHNIC_MIN",
    "INDIGENOUS",
    "DALIT",
    "RELIGIOUS_MIN",
    "LGBTIQ",
    "SLUM",
    "REFUGEE_IDP",
    "MIGRANT",
    "OLDER",
    "YOUTH",
    "PLHIV",
    "LANDLESS",
]


def test_group_codes_are_exactly_the_product_codelist(reference: Reference) -> None:
    assert [group.code for group in reference.groups] == GROUP_CODES
    assert [code.code for code in reference.codelist("GROUP")] == GROUP_CODES
    for group in reference.groups:
        assert group.name and group.description and group.mapping_note


def test_every_sdmx_code_of_a_group_exists_in_the_shipped_codelists(reference: Reference) -> None:
    for group in reference.groups:
        assert bool(group.sdmx_dimension) == bool(group.sdmx_codes), group.code
        for dimension, code in group.sdmx_keys:
            assert code in reference.codelist(dimension), (group.code, dimension, code)


def test_groups_without_sdmx_code_say_so(reference: Reference) -> None:
    unmapped = [group.code for group in reference.groups if group.sdmx_dimension is None]
    assert unmapped == ["INDIGENOUS", "DALIT", "SLUM", "REFUGEE_IDP", "PLHIV", "LANDLESS"]
    for group in reference.groups:
        exact = group.sdmx_dimension is not None
        assert group.mapping_note.startswith("no SDMX code") != exact, group.code


def test_pwd_maps_to_disability_status_and_to_the_disability_ground(reference: Reference) -> None:
    pwd = next(group for group in reference.groups if group.code == "PWD")
    assert (pwd.sdmx_dimension, pwd.sdmx_codes) == ("DISABILITY_STATUS", ("PD",))
    assert pwd.sdmx_keys == (("DISABILITY_STATUS", "PD"), ("COMPOSITE_BREAKDOWN", "GRD_DIS"))


@pytest.mark.parametrize(
    ("dimension", "code", "group"),
    [
        ("COMPOSITE_BREAKDOWN", "MS_MIGRANT", "MIGRANT"),
        ("COMPOSITE_BREAKDOWN", "GRD_ETH", "ETHNIC_MIN"),
        ("COMPOSITE_BREAKDOWN", "GRD_RELIGION", "RELIGIOUS_MIN"),
        ("COMPOSITE_BREAKDOWN", "GRD_SEXOGENID", "LGBTIQ"),
        ("COMPOSITE_BREAKDOWN", "_T", "_T"),
        ("DISABILITY_STATUS", "PD", "PWD"),
        ("DISABILITY_STATUS", "_T", "_T"),
        ("AGE", "Y15T24", "YOUTH"),
        ("AGE", "Y_GE60", "OLDER"),
        # Ambiguous or not a group: reported by the import, never guessed.
        ("COMPOSITE_BREAKDOWN", "MS_NOMIGRANT", None),
        ("COMPOSITE_BREAKDOWN", "MS_EUMIGRANT", None),
        ("COMPOSITE_BREAKDOWN", "GRD_MIG", None),
        ("COMPOSITE_BREAKDOWN", "GRD_ETHI", None),
        ("COMPOSITE_BREAKDOWN", "GRD_SEXO", None),
        ("COMPOSITE_BREAKDOWN", "GRD_AGE", None),
        ("COMPOSITE_BREAKDOWN", "GRD_DISHEA", None),
        ("COMPOSITE_BREAKDOWN", "HZT_FLOOD", None),
        ("DISABILITY_STATUS", "PWD", None),  # SDMX PWD = persons *without* disability
        ("AGE", "Y_GE65", None),
        ("SEX", "F", None),
        ("URBANISATION", "U", None),
    ],
)
def test_group_from_sdmx(
    reference: Reference, dimension: str, code: str, group: str | None
) -> None:
    assert reference.group_from_sdmx(dimension, code) == group


@pytest.mark.parametrize(
    ("group", "key"),
    [
        ("_T", ("COMPOSITE_BREAKDOWN", "_T")),
        ("PWD", ("DISABILITY_STATUS", "PD")),
        ("ETHNIC_MIN", ("COMPOSITE_BREAKDOWN", "GRD_ETH")),
        ("LGBTIQ", ("COMPOSITE_BREAKDOWN", "GRD_SEXOGENID")),
        ("MIGRANT", ("COMPOSITE_BREAKDOWN", "MS_MIGRANT")),
        ("OLDER", ("AGE", "Y_GE60")),
        ("DALIT", None),
        ("NOT_A_GROUP", None),
    ],
)
def test_sdmx_from_group(reference: Reference, group: str, key: tuple[str, str] | None) -> None:
    assert reference.sdmx_from_group(group) == key


def test_export_and_import_round_trip(reference: Reference) -> None:
    for group in reference.groups:
        key = reference.sdmx_from_group(group.code)
        if key is not None:
            assert reference.group_from_sdmx(*key) == group.code


def test_reverse_mapping_is_unambiguous(reference: Reference) -> None:
    forward = {key: group.code for group in reference.groups for key in group.sdmx_keys}
    for key, group in FROM_SDMX.items():
        assert forward.get(key) == group, key
    # One code per group and dimension, so one SDMX table never yields two cells for a group.
    per_group_and_dimension = Counter((group, key[0]) for key, group in FROM_SDMX.items())
    assert max(per_group_and_dimension.values()) == 1


def test_docs_table_shows_every_group_and_its_mapping(reference: Reference) -> None:
    rows = {
        line.split("|")[1].strip(): line
        for line in DOCS.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `")
    }
    for group in reference.groups:
        row = rows[f"`{group.code}`"]
        for _, code in group.sdmx_keys:
            assert f"`{code}`" in row, (group.code, code)
    for (dimension, code), group_code in FROM_SDMX.items():
        assert f"`{code}`" in rows[f"`{group_code}`"], (dimension, code)
