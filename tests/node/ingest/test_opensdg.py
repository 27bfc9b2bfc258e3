from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.errors import IngestError, Problem
from service.node.ingest import DatasetMeta, IngestOptions, IngestReport, ingest_file
from service.node.ingest.mapping import PRODUCT_UNITS_FILE
from service.node.ingest.opensdg import indicator_from_file_name, read_open_sdg
from service.node.ingest.periods import parse_period
from service.node.ingest.records import Excluded, RawCell
from service.node.ingest.writer import AMBIGUOUS
from service.node.models import DatasetVersion, Observation
from service.reference import load_reference
from tests.conftest import SHARED_DATA
from tests.node.ingest.conftest import WriteFile, fingerprint

Item = RawCell | Excluded | Problem

COLUMNS = """Text,Value
Sex,SEX
Age,AGE
Disability status,DISABILITY_STATUS
Migration status,COMPOSITE_BREAKDOWN
Community,GROUP
Institution,COMPOSITE_BREAKDOWN
Occupation,OCCUPATION
Frequency,FREQ
"""
CODES = """Text,Dimension,Value
Female,SEX,F
Male,SEX,M
16 to 24,AGE,Y16T24
Disabled,DISABILITY_STATUS,PD
Migrants,COMPOSITE_BREAKDOWN,MS_MIGRANT
Roma,GROUP,ETHNIC_MIN
African Development Bank,COMPOSITE_BREAKDOWN,IO_AFDB
All occupations,OCCUPATION,_T
Managers,OCCUPATION,ISCO08_1
Percentage (%),UNIT_MEASURE,PT
Units,UNIT_MULT,0
Thousands,UNIT_MULT,3
Normal value,OBS_STATUS,A
"Proportion of youth not in education, employment or training",SERIES,SL_TLF_NEET
"""
NEET = '"Proportion of youth not in education, employment or training"'


@pytest.fixture
def mapping_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "mapping"
    folder.mkdir()
    (folder / "column_mapping.csv").write_text(COLUMNS, encoding="utf-8")
    (folder / "code_mapping.csv").write_text(CODES, encoding="utf-8")
    return folder


def read(path: Path, mapping_dir: Path | None, **options: object) -> list[Item]:
    options.setdefault("ref_area", "GBR")
    return list(
        read_open_sdg(
            path,
            IngestOptions(format="open-sdg", mapping_dir=mapping_dir, **options),  # type: ignore[arg-type]
            load_reference(),
        )
    )


def open_sdg(header: str, *rows: str) -> str:
    return "\n".join((header, *rows)) + "\n"


@pytest.mark.parametrize(
    ("name", "indicator"),
    [
        ("indicator_3-8-1.csv", "3.8.1"),
        ("indicator_16-b-1.csv", "16.b.1"),
        ("INDICATOR_5-A-1.CSV", "5.a.1"),
        ("3-8-1.csv", None),
        ("indicator_3-8.csv", None),
        ("indicator_3-8-1.xlsx", None),
    ],
)
def test_the_indicator_comes_from_the_file_name(name: str, indicator: str | None) -> None:
    assert indicator_from_file_name(name) == indicator


def test_labels_become_codes_of_the_product_dimensions(
    write_file: WriteFile, mapping_dir: Path
) -> None:
    header = (
        "Year,Series,Sex,Age,Disability status,Migration status,Community,Occupation,Frequency,"
        "Units,Unit multiplier,Observation status,GeoCode,COMMENT_OBS,Value"
    )
    path = write_file(
        open_sdg(
            header,
            f"2021,{NEET},,,,,,,Annual,Percentage (%),Units,Normal value,,,26.4",
            f"2021,{NEET},Female,16 to 24,Disabled,,,All occupations,,Percentage (%),Units,"
            "Estimated value,E92000001,survey estimate,30.1",
            f"2021,{NEET},,,,Migrants,,,,Percentage (%),Units,Normal value,,,12",
            "2021,Free text series,,,,,Roma,,,PT,,Definition differs,,,40",
            "2001/02,,Male,,,,,,,Number,Thousands,Provisional value,,,1.5",
        ),
        name="indicator_8-6-1.csv",
    )

    items = read(path, mapping_dir)

    assert all(isinstance(item, RawCell) for item in items), items
    cells = [item.fields for item in items if isinstance(item, RawCell)]
    common = {"indicator": "8.6.1", "ref_area": "GBR"}
    assert cells[0] == {
        **common, "time_period": "2021", "value": "26.4", "series": "SL_TLF_NEET",
        "unit": "PERCENT", "obs_status": "A",
    }  # fmt: skip
    assert "sex" not in cells[0] and "group" not in cells[0]
    assert {k: cells[1][k] for k in ("sex", "age", "disability_status", "obs_status", "note")} == {
        "sex": "F", "age": "Y16T24", "disability_status": "PD", "obs_status": "E",
        "note": "survey estimate",
    }  # fmt: skip
    # COMPOSITE_BREAKDOWN codes become the product's group; a GROUP column names it directly.
    assert cells[2]["group"] == "MIGRANT"
    assert cells[3]["group"] == "ETHNIC_MIN"
    # A label that is itself the SDG code, or the code's name in the SDG codelist, needs no row.
    assert cells[3]["series"] == "Free text series"
    assert (cells[3]["unit"], cells[3]["obs_status"]) == ("PERCENT", "D")
    # Thousands: the value is stored in units.
    assert cells[4] == {
        **common, "time_period": "2001/2002", "value": "1500", "sex": "M", "unit": "NUMBER",
        "obs_status": "P",
    }  # fmt: skip
    first = items[1]
    assert isinstance(first, RawCell)
    assert first.row == 3
    assert first.source_columns["sex"] == "Sex" and first.source_columns["time_period"] == "Year"


def test_unmapped_columns_and_labels_are_kept_out_with_their_reasons(
    write_file: WriteFile, mapping_dir: Path
) -> None:
    path = write_file(
        open_sdg(
            "Year,Sex,Ethnicity,Occupation,Institution,Units,Value",
            "2020,,,,,Percentage (%),10",
            "2020,Girls,,,,Percentage (%),11",
            "2020,Female,Asian,,,Percentage (%),12",
            "2020,Boys,Asian,,,Percentage (%),13",
            "2020,,,Managers,,Percentage (%),14",
            "2020,,,Drivers,,Percentage (%),15",
            "2020,,,,African Development Bank,Percentage (%),16",
            "2020,,,,,Acres,17",
            "2020,,,,,Kilograms,18",
            "2020,Female,,,,Percentage (%),",
            "Spring 2023,,,,,Percentage (%),19",
        ),
        name="indicator_5-5-2.csv",
    )

    items = read(path, mapping_dir)

    assert [type(item).__name__ for item in items] == ["RawCell", *["Excluded"] * 10]
    reasons = {item.row: item.reasons for item in items if isinstance(item, Excluded)}
    assert reasons == {
        3: ("label 'Girls' of column 'Sex' is not mapped",),
        4: ("column 'Ethnicity' is not mapped",),
        5: ("label 'Boys' of column 'Sex' is not mapped", "column 'Ethnicity' is not mapped"),
        6: ("dimension OCCUPATION=ISCO08_1 is not held by the product",),
        7: ("dimension OCCUPATION=Drivers is not held by the product",),
        8: ("dimension COMPOSITE_BREAKDOWN=IO_AFDB is not held by the product",),
        9: ("label 'Acres' of column 'Units' is not mapped",),
        10: ("UNIT_MEASURE=KG is not held by the product",),
        11: ("blank Value",),
        12: ("Year 'Spring 2023' is not a period",),
    }


def test_strict_names_every_unmapped_column_and_label_once(
    write_file: WriteFile, mapping_dir: Path
) -> None:
    path = write_file(
        open_sdg(
            "Year,Sex,Ethnicity,Region,Units,Value",
            "2020,Girls,,,Percentage (%),11",
            "2020,Girls,Asian,,Percentage (%),12",
            "2020,Boys,Black,North East,Percentage (%),13",
            "2020,,,,Percentage (%),",
            "2020,,,,Percentage (%),14",
        ),
        name="indicator_5-5-2.csv",
    )

    items = read(path, mapping_dir, strict=True)

    problems = [item for item in items if isinstance(item, Problem)]
    assert [(p.row, p.column, p.value) for p in problems] == [
        (2, "Sex", "Girls"),
        (3, "Ethnicity", "Asian"),
        (4, "Sex", "Boys"),
        (4, "Region", "North East"),
    ]
    assert "code_mapping.csv" in problems[0].expected
    assert "column_mapping.csv" in problems[1].expected
    # A blank Value is missing data, not a mapping failure: strict or not, it is left out.
    assert [item for item in items if isinstance(item, Excluded)] == [Excluded(5, ("blank Value",))]
    assert sum(isinstance(item, RawCell) for item in items) == 1


def test_columns_that_disagree_keep_the_row_out(write_file: WriteFile, mapping_dir: Path) -> None:
    path = write_file(
        open_sdg(
            "Year,Units,Unit measure,Sex,SEX,Value",
            "2020,Percentage (%),PT,,F,10",
            "2020,Percentage (%),Number,,,11",
            "2020,Percentage (%),,Male,F,12",
        ),
        name="indicator_5-5-2.csv",
    )

    items = read(path, mapping_dir)

    first = items[0]
    assert isinstance(first, RawCell)
    assert (first.fields["unit"], first.fields["sex"], first.source_columns["sex"]) == (
        "PERCENT", "F", "SEX",
    )  # fmt: skip
    assert [item.reasons for item in items[1:] if isinstance(item, Excluded)] == [
        ("columns 'Units' and 'Unit measure' give different unit codes",),
        ("columns 'Sex' and 'SEX' give different sex codes",),
    ]


def test_hyphenated_years_are_ranges_as_open_sdg_writes_them(
    write_file: WriteFile, mapping_dir: Path
) -> None:
    path = write_file(
        open_sdg(
            "Year,Units,Value",
            "2003-05,Percentage (%),1",
            "2000 Q1,Percentage (%),2",
            "2010 to 2011,Percentage (%),3",
        ),
        name="indicator_3-1-1.csv",
    )

    items = read(path, mapping_dir)

    assert [item.fields["time_period"] for item in items if isinstance(item, RawCell)] == [
        "2003/2005", "2000-Q1", "2010/2011",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("indicator_3-8-1.csv", {"ref_area": None}, "--ref-area with the country's ISO 3166-1"),
        ("indicator_3-8-1.csv", {"ref_area": "XXX"}, "--ref-area as an ISO 3166-1 alpha-3"),
        ("data.csv", {}, "an Open SDG file name that names the indicator"),
        ("indicator_99-1-1.csv", {}, "an SDG indicator in the file name"),
    ],
)
def test_a_file_that_cannot_be_placed_is_refused_clearly(
    write_file: WriteFile, mapping_dir: Path, name: str, options: dict[str, object], expected: str
) -> None:
    path = write_file(open_sdg("Year,Units,Value", "2020,Percentage (%),1"), name=name)

    items = read(path, mapping_dir, **options)

    assert len(items) == 1
    assert isinstance(items[0], Problem)
    assert items[0].expected.startswith(expected)


def test_a_country_column_can_stand_in_for_ref_area(write_file: WriteFile, tmp_path: Path) -> None:
    folder = tmp_path / "areas"
    folder.mkdir()
    (folder / "column_mapping.csv").write_text("Text,Value\nCountry,REF_AREA\n")
    (folder / "code_mapping.csv").write_text("Text,Dimension,Value\nKenya,REF_AREA,KEN\n")
    path = write_file(
        open_sdg("Year,Country,Units,Value", "2020,Kenya,PT,1", "2020,50,PT,2", "2020,Narnia,PT,3"),
        name="indicator_3-8-1.csv",
    )

    items = read(path, folder, ref_area=None)

    assert [item.fields["ref_area"] for item in items if isinstance(item, RawCell)] == [
        "KEN", "BGD",
    ]  # fmt: skip
    assert isinstance(items[2], Excluded)
    assert items[2].reasons == ("label 'Narnia' of column 'Country' is not mapped",)


def test_a_file_without_year_or_value_or_with_ragged_rows_is_refused(
    write_file: WriteFile, mapping_dir: Path
) -> None:
    no_value = write_file(open_sdg("Year,Units,Amount", "2020,PT,1"), name="indicator_3-8-1.csv")
    ragged = write_file(
        open_sdg("Year,Units,Value", "2020,PT", "2021,PT,1"), name="indicator_3-8-2.csv"
    )

    assert [(p.column, p.expected) for p in read(no_value, mapping_dir)] == [  # type: ignore[union-attr]
        ("Value", "a Value column (Open SDG files: Year first, Value last)")
    ]
    problem, cell = read(ragged, mapping_dir)
    assert isinstance(problem, Problem) and isinstance(cell, RawCell)
    assert (problem.row, problem.expected) == (2, "3 cells as in the header, found 2")


# The UK's own files, through the whole path, against an independent reading of the mapping.

UK_OWN_COLUMNS = {
    "series": "SERIES",
    "units": "UNIT_MEASURE",
    "unit measure": "UNIT_MEASURE",
    "unit multiplier": "UNIT_MULT",
    "observation status": "OBS_STATUS",
    "geocode": "",
}
UK_CODELISTS = {
    "SEX": "CL_SEX",
    "AGE": "CL_AGE",
    "URBANISATION": "CL_URBANISATION",
    "OBS_STATUS": "CL_OBS_STATUS",
    "UNIT_MEASURE": "CL_UNIT_MEASURE",
}


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


class UkExpectation:
    """What the UK mapping makes of each file, worked out from the CSVs without the reader."""

    def __init__(self, data: Path) -> None:
        folder = data / "open-sdg-uk"
        self.reference = load_reference()
        self.columns = {_key(r["Text"]): r["Value"] for r in _csv(folder / "column_mapping.csv")}
        shipped = _csv(PRODUCT_UNITS_FILE)
        codes = _csv(folder / "code_mapping.csv")
        # The operator's folder wins over the units the product ships.
        self.codes = {(r["Dimension"], _key(r["Text"])): r["Value"] for r in shipped + codes}
        self.codelists: dict[str, dict[str, str]] = {}  # concept -> key(name or code) -> code
        for concept, codelist in UK_CODELISTS.items():
            rows = _csv(data / "sdmx-sdg-dsd" / f"{codelist}.csv")
            names = Counter(_key(r["name_en"]) for r in rows)
            by_name = {
                _key(r["name_en"]): r["code"] for r in rows if names[_key(r["name_en"])] == 1
            }
            self.codelists[concept] = by_name | {r["code"]: r["code"] for r in rows}

    def code(self, concept: str, label: str) -> str | None:
        mapped = self.codes.get((concept, _key(label)))
        if mapped is not None:
            return mapped
        known = self.codelists.get(concept, {})
        return known.get(label) or known.get(_key(label))

    def concept(self, column: str) -> str | None:
        return self.columns.get(_key(column), UK_OWN_COLUMNS.get(_key(column)))

    def folded(self, rows: list[dict[str, str]]) -> set[str]:
        """Columns of a breakdown the product does not hold that give every row one code."""
        folded = set()
        for column in rows[0]:
            concept = self.concept(column)
            if concept in UK_UNHELD:
                assert concept is not None
                labels = {row[column].strip() for row in rows}
                label = labels.pop()
                code = self.codes.get((concept, _key(label)), label)
                if not labels and label and code != "_T":
                    folded.add(column)
        return folded

    def reading(
        self, row: dict[str, str], folded: set[str]
    ) -> tuple[set[str], set[str], tuple[str, ...]]:
        """The row's reasons to be left out, its attributes left blank, and its key."""
        if not row["Value"].strip():
            return {"blank Value"}, set(), ()
        reasons, blank = set(), set()
        period = parse_period(row["Year"], hyphen_ranges=True)
        if period is None:
            reasons.add(f"Year {row['Year'].strip()!r} is not a period")
        key = [period.label if period else ""]
        for column, cell in row.items():
            label = cell.strip()
            if column in ("Year", "Value") or not label:
                continue
            concept = self.concept(column)
            if concept is None:
                reasons.add(f"column {column!r} is not mapped")
            elif concept == "":
                continue
            elif concept == "SERIES" or column in folded:
                key.append(self.codes.get((concept, _key(label)), label))
            elif concept == "UNIT_MULT":
                multiplier = self.codes.get(("UNIT_MULT", _key(label)), label)
                if not multiplier.lstrip("-").isdigit():
                    reasons.add(f"label {label!r} of column {column!r} is not mapped")
            elif concept in UK_UNHELD:
                held = self.codes.get((concept, _key(label)), label)
                if held != "_T":
                    reasons.add(f"dimension {concept}={held} is not held by the product")
            elif (code := self.code(concept, label)) is None:
                if concept == "OBS_STATUS":
                    blank.add(
                        f"label {label!r} of column {column!r} is not mapped (attribute left blank)"
                    )
                else:
                    reasons.add(f"label {label!r} of column {column!r} is not mapped")
            elif concept == "UNIT_MEASURE":
                unit = self.reference.units_from_sdmx(code) or (code if code == "RATE" else None)
                if unit is None:
                    reasons.add(f"UNIT_MEASURE={code} is not held by the product")
                key.append(unit or "")
            elif concept != "OBS_STATUS":
                key.append(f"{concept}={code}")
        return reasons, blank, tuple(sorted(set(key)))

    def of_file(self, path: Path) -> tuple[int, int, Counter[str]]:
        """Rows read, rows stored, and rows per reason in the report."""
        rows = _csv(path)
        folded = self.folded(rows)
        exclusions: Counter[str] = Counter()
        values: dict[tuple[str, ...], set[str]] = {}
        rows_of_key: Counter[tuple[str, ...]] = Counter()
        for row in rows:
            reasons, blank, key = self.reading(row, folded)
            if reasons:
                exclusions.update(reasons)
            else:
                exclusions.update(blank)
                rows_of_key[key] += 1
                values.setdefault(key, set()).add(row["Value"].strip())
        ambiguous = sum(rows_of_key[key] for key, found in values.items() if len(found) > 1)
        if ambiguous:
            exclusions[AMBIGUOUS] = ambiguous
        return len(rows), rows_of_key.total() - ambiguous, exclusions


UK_UNHELD = ("ACTIVITY", "OCCUPATION", "PRODUCT")
UK_FILES = sorted((SHARED_DATA / "open-sdg-uk").glob("indicator_*.csv"))
# Files in which no row maps with the UK's own folder, and the one column mapping that each lacks.
UK_UNMAPPED = {
    # Every 'Unit measure' cell says 'Units' (the multiplier's label); the unit is in 'Units'.
    "indicator_3-1-1.csv": ("Unit measure,UNIT_MULT", 28),
    # 'Units' holds the measure (MRSA bloodstream infection, ...); 'Unit measure' the unit.
    "indicator_3-d-2.csv": ("Units,SERIES", 5),
    # Every row is one ICT skill, a column the folder does not map.
    "indicator_4-4-1.csv": ("Skill,SERIES", 178),
}


def ingest_open_sdg(
    engine: Engine, path: Path, mapping_dir: Path, slug: str, *, strict: bool = False
) -> IngestReport:
    return ingest_file(
        engine,
        path,
        DatasetMeta(slug=slug, organisation="Office for National Statistics", published=True),
        IngestOptions(format="open-sdg", mapping_dir=mapping_dir, strict=strict, ref_area="GBR"),
        loaded_by="data-team",
    )


def _slug(path: Path) -> str:
    return "uk-" + path.stem.removeprefix("indicator_").replace("-", "")


def test_the_shared_data_holds_all_38_uk_files() -> None:
    assert len(UK_FILES) == 38


def test_every_uk_file_ingests_with_the_report_worked_out_independently(
    node_engine: Engine, shared_data: Path, subtests: pytest.Subtests
) -> None:
    expectation = UkExpectation(shared_data)
    mapping_dir = shared_data / "open-sdg-uk"
    for path in UK_FILES:
        with subtests.test(file=path.name):
            rows, stored, exclusions = expectation.of_file(path)
            if path.name in UK_UNMAPPED:
                assert stored == 0
                with pytest.raises(IngestError, match="at least one row to store"):
                    ingest_open_sdg(node_engine, path, mapping_dir, _slug(path))
                continue
            report = ingest_open_sdg(node_engine, path, mapping_dir, _slug(path))
            assert report.rows_stored > 0
            assert (report.rows_read, report.rows_stored) == (rows, stored)
            assert report.rows_read == report.rows_stored + report.rows_excluded
            assert report.exclusions == exclusions


def test_the_uk_files_that_map_nothing_ingest_with_the_column_they_lack(
    node_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    folder = shared_data / "open-sdg-uk"
    for name, (column_row, stored) in UK_UNMAPPED.items():
        mapping_dir = tmp_path / name
        mapping_dir.mkdir()
        columns = (folder / "column_mapping.csv").read_text(encoding="utf-8")
        (mapping_dir / "column_mapping.csv").write_text(columns + column_row + "\n")
        (mapping_dir / "code_mapping.csv").write_bytes((folder / "code_mapping.csv").read_bytes())

        report = ingest_open_sdg(node_engine, folder / name, mapping_dir, _slug(folder / name))

        assert report.rows_stored == stored
        assert report.rows_read == report.rows_stored + report.rows_excluded


def test_exact_reasons_for_some_uk_files(node_engine: Engine, shared_data: Path) -> None:
    folder = shared_data / "open-sdg-uk"

    def nonblank(file: str, column: str) -> int:
        return sum(1 for r in _csv(folder / file) if r[column].strip() and r["Value"].strip())

    girls_and_boys = ingest_open_sdg(node_engine, folder / "indicator_4-1-2.csv", folder, "a")
    assert (girls_and_boys.rows_read, girls_and_boys.rows_stored) == (46, 22)
    assert girls_and_boys.exclusions == {
        "label 'Girls' of column 'Sex' is not mapped": 12,
        "label 'Boys' of column 'Sex' is not mapped": 12,
    }

    homes = ingest_open_sdg(node_engine, folder / "indicator_11-1-1.csv", folder, "b")
    for column in (
        "Decent homes criteria",
        "Region",
        "Ethnicity of household reference person (hrp)",
    ):
        assert homes.exclusions[f"column {column!r} is not mapped"] == nonblank(
            "indicator_11-1-1.csv", column
        )
    assert homes.rows_stored == 28

    safety = ingest_open_sdg(node_engine, folder / "indicator_16-1-4.csv", folder, "c")
    assert safety.exclusions["blank Value"] == 125  # as the data's README counts them
    assert safety.exclusions["column 'Ethnicity' is not mapped"] == nonblank(
        "indicator_16-1-4.csv", "Ethnicity"
    )
    assert safety.rows_read == 405

    with Session(node_engine) as session:
        stored = session.scalars(
            select(Observation).where(Observation.source_row == 2).order_by(Observation.id)
        ).all()
    headline = stored[0]
    assert (headline.indicator, headline.ref_area, headline.sex, headline.unit) == (
        "4.1.2", "GBR", "_T", "PERCENT",
    )  # fmt: skip
    assert headline.n is None  # official statistics carry no base


def test_strict_refuses_naming_every_unmapped_column_and_changes_nothing(
    node_engine: Engine, shared_data: Path
) -> None:
    folder = shared_data / "open-sdg-uk"
    path = folder / "indicator_11-1-1.csv"
    ingest_open_sdg(node_engine, folder / "indicator_4-1-2.csv", folder, "homes")
    before = fingerprint(node_engine)

    with pytest.raises(IngestError) as refused:
        ingest_open_sdg(node_engine, path, folder, "homes", strict=True)

    assert fingerprint(node_engine) == before
    named = {(p.column, p.value) for p in refused.value.problems}
    expected = set()
    for row in _csv(path):
        for column, cell in row.items():
            unmapped = _key(column) not in UK_OWN_COLUMNS and column not in ("Year", "Value")
            if cell.strip() and unmapped and column != "Series":
                expected.add(column)
    assert expected and expected <= {column for column, _ in named}
    assert len(refused.value.problems) == refused.value.total == len(expected)


def test_strict_refuses_unmapped_labels_by_name(node_engine: Engine, shared_data: Path) -> None:
    folder = shared_data / "open-sdg-uk"

    with pytest.raises(IngestError) as refused:
        ingest_open_sdg(node_engine, folder / "indicator_4-1-2.csv", folder, "s", strict=True)

    assert {(p.column, p.value) for p in refused.value.problems} == {
        ("Sex", "Girls"),
        ("Sex", "Boys"),
    }
    assert fingerprint(node_engine)["observations"] == 0


def test_strict_still_leaves_blank_values_out(
    node_engine: Engine, write_file: WriteFile, mapping_dir: Path
) -> None:
    path = write_file(
        open_sdg("Year,Sex,Units,Value", "2020,,Percentage (%),10", "2020,Female,Percentage (%),"),
        name="indicator_5-5-2.csv",
    )

    report = ingest_open_sdg(node_engine, path, mapping_dir, "blank", strict=True)

    assert (report.rows_read, report.rows_stored, report.rows_excluded) == (2, 1, 1)
    assert report.exclusions == {"blank Value": 1}


# Attributes, units, ambiguous keys and breakdowns a whole file shares.


def test_an_unmapped_attribute_is_left_blank_and_counted(
    node_engine: Engine, write_file: WriteFile, mapping_dir: Path
) -> None:
    path = write_file(
        open_sdg(
            "Year,Sex,Observation status,Units,Value",
            "2020,,Normal value,Percentage (%),10",
            "2020,Female,Undefined,Percentage (%),11",
            "2020,Girls,Undefined,Percentage (%),12",
        ),
        name="indicator_5-5-2.csv",
    )

    report = ingest_open_sdg(node_engine, path, mapping_dir, "status")

    assert (report.rows_read, report.rows_stored, report.rows_excluded) == (3, 2, 1)
    assert report.exclusions == {
        "label 'Undefined' of column 'Observation status' is not mapped (attribute left blank)": 1,
        "label 'Girls' of column 'Sex' is not mapped": 1,
    }
    with Session(node_engine) as session:
        cells = session.execute(
            select(Observation.sex, Observation.obs_status).order_by(Observation.source_row)
        ).all()
    assert [tuple(cell) for cell in cells] == [("_T", "A"), ("F", None)]

    with pytest.raises(IngestError) as refused:
        ingest_open_sdg(node_engine, path, mapping_dir, "status-strict", strict=True)
    assert {(p.row, p.column, p.value) for p in refused.value.problems} == {
        (3, "Observation status", "Undefined"),
        (4, "Sex", "Girls"),
    }


def test_common_unit_labels_map_through_the_units_the_product_ships(
    node_engine: Engine, write_file: WriteFile, tmp_path: Path
) -> None:
    path = write_file(
        open_sdg(
            "Year,Series,Units,Unit multiplier,Value",
            '2020,a,"Rate per 100,000 population",Units,1.5',
            "2020,b,Percentage of households (%),,20",
            "2020,c,Individuals,Thousands,2.5",
            "2020,d,Number,,7",
            "2020,e,Hectares,,9",
        ),
        name="indicator_3-3-2.csv",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "code_mapping.csv").write_text("Text,Dimension,Value\n", encoding="utf-8")

    report = ingest_open_sdg(node_engine, path, empty, "units")

    assert report.exclusions == {"UNIT_MEASURE=HA is not held by the product": 1}
    with Session(node_engine) as session:
        cells = session.execute(
            select(Observation.series, Observation.unit, Observation.value).order_by(
                Observation.source_row
            )
        ).all()
    assert [tuple(cell) for cell in cells] == [
        ("a", "RATE", 1.5),
        ("b", "PERCENT", 20.0),
        ("c", "NUMBER", 2500.0),
        ("d", "NUMBER", 7.0),
    ]


def test_the_operators_mapping_wins_over_the_units_the_product_ships(
    node_engine: Engine, write_file: WriteFile, tmp_path: Path
) -> None:
    path = write_file(open_sdg("Year,Units,Value", "2020,Number,7"), name="indicator_3-3-2.csv")
    folder = tmp_path / "operator"
    folder.mkdir()
    (folder / "code_mapping.csv").write_text(
        "Text,Dimension,Value\nNumber,UNIT_MEASURE,IX\n", encoding="utf-8"
    )

    ingest_open_sdg(node_engine, path, folder, "operator")

    with Session(node_engine) as session:
        assert session.scalars(select(Observation.unit)).all() == ["SCORE"]


def test_every_unit_the_product_ships_is_one_it_can_hold() -> None:
    reference = load_reference()
    for row in _csv(PRODUCT_UNITS_FILE):
        if row["Dimension"] == "UNIT_MEASURE":
            unit = reference.units_from_sdmx(row["Value"]) or row["Value"]
            assert unit in reference.codelist("UNIT"), row
        else:
            assert row["Dimension"] == "UNIT_MULT" and row["Value"].isdigit(), row


def test_rows_that_give_one_key_different_values_are_left_out_as_ambiguous(
    node_engine: Engine, write_file: WriteFile, mapping_dir: Path
) -> None:
    path = write_file(
        open_sdg(
            "Year,Sex,GeoCode,Units,Value",
            "2020,,,Percentage (%),10",
            "2020,Female,E1,Percentage (%),11",
            "2020,Female,E2,Percentage (%),12",
            "2020,Female,E3,Percentage (%),13",
            "2020,Male,,Percentage (%),9",
        ),
        name="indicator_5-5-2.csv",
    )

    report = ingest_open_sdg(node_engine, path, mapping_dir, "ambiguous")

    assert (report.rows_read, report.rows_stored, report.rows_excluded) == (5, 2, 3)
    assert report.exclusions == {AMBIGUOUS: 3}
    with Session(node_engine) as session:
        assert session.scalars(select(Observation.sex).order_by(Observation.sex)).all() == [
            "M",
            "_T",
        ]
        assert session.scalars(select(DatasetVersion.rows_excluded)).one() == 3

    with pytest.raises(IngestError, match="one row per key"):
        ingest_open_sdg(node_engine, path, mapping_dir, "ambiguous", strict=True)


def test_a_breakdown_every_row_shares_goes_into_the_series(
    node_engine: Engine, write_file: WriteFile, mapping_dir: Path
) -> None:
    header = "Year,Series,Sex,Activity,Units,Value"
    shared = write_file(
        open_sdg(
            header,
            "2020,Manufacturing jobs,,ISIC4_C,Percentage (%),8",
            "2020,Manufacturing jobs,Female,ISIC4_C,Percentage (%),5",
        ),
        name="indicator_9-2-2.csv",
    )
    mixed = write_file(
        open_sdg(
            header,
            "2020,Jobs,,,Percentage (%),8",
            "2020,Jobs,,ISIC4_C,Percentage (%),5",
        ),
        name="indicator_9-2-1.csv",
    )
    (mapping_dir / "column_mapping.csv").write_text(COLUMNS + "Activity,ACTIVITY\n")

    report = ingest_open_sdg(node_engine, shared, mapping_dir, "shared")

    assert (report.rows_stored, report.exclusions) == (2, {})
    with Session(node_engine) as session:
        assert set(session.scalars(select(Observation.series))) == {
            "Manufacturing jobs|ACTIVITY=ISIC4_C"
        }
    assert [
        item.reasons if isinstance(item, Excluded) else item.fields["series"]  # type: ignore[union-attr]
        for item in read(mixed, mapping_dir)
    ] == ["Jobs", ("dimension ACTIVITY=ISIC4_C is not held by the product",)]
