from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.errors import IngestError, Problem
from service.node.disclosure import Reason
from service.node.downloads import sdmx_csv_lines
from service.node.ingest import DatasetMeta, IngestOptions, IngestReport, ingest_file
from service.node.ingest.records import Excluded, RawCell
from service.node.ingest.sdmxcsv import read_sdmx_csv
from service.node.ingest.writer import AMBIGUOUS
from service.node.models import Observation
from service.node.observations import ReleasedCell
from service.reference import load_reference
from tests.node.ingest.conftest import WriteFile, fingerprint

Item = RawCell | Excluded | Problem

# ILO modelled estimates of youth NEET rates (%), as the UN SDG database publishes them.
SDMX_1_0 = """\
DATAFLOW,FREQ,REPORTING_TYPE,SERIES,REF_AREA,SEX,AGE,URBANISATION,INCOME_WEALTH_QUANTILE,\
EDUCATION_LEV,OCCUPATION,CUST_BREAKDOWN,COMPOSITE_BREAKDOWN,DISABILITY_STATUS,ACTIVITY,PRODUCT,\
TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,UNIT_MULT,OBS_STATUS,NATURE,SOURCE_DETAIL
IAEG-SDGs:DF_SDG_GLH(1.14),A,G,SL_TLF_NEET,50,_T,Y15T24,_T,_T,_T,_T,_T,_T,_T,_T,_T,2022,26.4,PT,0,A,C,\
"Labour Force Survey, 2022"
IAEG-SDGs:DF_SDG_GLH(1.14),A,G,SL_TLF_NEET,50,F,Y15T24,_T,_T,_T,_T,_T,_T,_T,_T,_T,2022,38.6,PT,0,A,C,
IAEG-SDGs:DF_SDG_GLH(1.14),A,G,SL_TLF_NEET,50,M,Y15T24,_T,_T,_T,_T,_T,_T,_T,_T,_T,2022,14.2,PT,0,A,C,
IAEG-SDGs:DF_SDG_GLH(1.14),A,G,SL_TLF_NEET,404,_T,Y15T24,_T,_T,_T,_T,_T,_T,_T,_T,_T,2019,16.4,PT,0,E,M,
"""
SDMX_2_0 = """\
STRUCTURE,STRUCTURE_ID,ACTION,FREQ,REPORTING_TYPE,SERIES,REF_AREA,SEX,AGE,URBANISATION,\
TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,UNIT_MULT,OBS_STATUS,COMMENT_OBS,LOWER_BOUND,UPPER_BOUND
dataflow,IAEG-SDGs:DF_SDG_GLH(1.14),I,A,N,SL_TLF_NEET,KEN,_T,Y15T24,_T,2019,16.4,PT,0,A,,15.1,17.8
dataflow,IAEG-SDGs:DF_SDG_GLH(1.14),A,A,N,SL_TLF_NEET,KEN,F,Y15T24,R,2019,20.3,PT,0,E,\
"Kenya Continuous Household Survey",,
dataflow,IAEG-SDGs:DF_SDG_GLH(1.14),R,A,N,SL_TLF_NEET,ken,M,Y15T24,U,2019,11.9,PT,,P,,,
"""


def read(path: Path, **options: object) -> list[Item]:
    return list(
        read_sdmx_csv(
            path,
            IngestOptions(format="sdmx-csv", **options),  # type: ignore[arg-type]
            load_reference(),
        )
    )


def ingest_sdmx(engine: Engine, path: Path, slug: str = "sdg", **options: object) -> IngestReport:
    return ingest_file(
        engine,
        path,
        DatasetMeta(slug=slug, organisation="UN Statistics Division", published=True),
        IngestOptions(format="sdmx-csv", **options),  # type: ignore[arg-type]
        loaded_by="data-team",
    )


def stored(engine: Engine) -> list[Observation]:
    with Session(engine) as session:
        return list(session.scalars(select(Observation).order_by(Observation.source_row)))


def sdmx(header: str, *rows: str) -> str:
    return "\n".join((header, *rows)) + "\n"


def test_sdmx_csv_1_0_ingests_with_m49_areas(node_engine: Engine, write_file: WriteFile) -> None:
    report = ingest_sdmx(node_engine, write_file(SDMX_1_0))

    assert (report.rows_read, report.rows_stored, report.rows_excluded) == (4, 4, 0)
    cells = stored(node_engine)
    assert [(o.ref_area, o.sex, o.time_period, o.value) for o in cells] == [
        ("BGD", "_T", "2022", 26.4),
        ("BGD", "F", "2022", 38.6),
        ("BGD", "M", "2022", 14.2),
        ("KEN", "_T", "2019", 16.4),
    ]
    first = cells[0]
    assert (first.indicator, first.series, first.age, first.unit, first.obs_status) == (
        "8.6.1", "SL_TLF_NEET", "Y15T24", "PERCENT", "A",
    )  # fmt: skip
    assert (first.group_code, first.n, first.breakdown) == ("_T", None, "AGE")
    assert cells[3].obs_status == "E"


def test_sdmx_csv_2_0_ingests_with_its_attributes(
    node_engine: Engine, write_file: WriteFile
) -> None:
    report = ingest_sdmx(node_engine, write_file(SDMX_2_0))

    assert report.rows_stored == 3
    total, female, male = stored(node_engine)
    assert (total.ref_area, total.lower, total.upper, total.note) == ("KEN", 15.1, 17.8, None)
    assert (female.sex, female.urbanisation, female.note) == (
        "F", "R", "Kenya Continuous Household Survey",
    )  # fmt: skip
    assert (male.ref_area, male.urbanisation, male.obs_status) == ("KEN", "U", "P")


def test_labelled_headers_and_codes_read_as_their_codes(write_file: WriteFile) -> None:
    path = write_file(
        sdmx(
            "DATAFLOW,SERIES: Series,REF_AREA: Reference area,SEX: Sex,TIME_PERIOD: Time,"
            "OBS_VALUE: Value,UNIT_MEASURE: Unit,NOTE",
            "IAEG-SDGs:DF_SDG_GLH(1.14),SL_TLF_NEET: Youth NEET,50: Bangladesh,F: Female,"
            "2022,38.6,PT: Percent,Note: a colon stays",
        )
    )

    (cell,) = read(path)

    assert isinstance(cell, RawCell)
    assert {k: cell.fields[k] for k in ("series", "ref_area", "sex", "unit", "note")} == {
        "series": "SL_TLF_NEET", "ref_area": "BGD", "sex": "F", "unit": "PERCENT",
        "note": "Note: a colon stays",
    }  # fmt: skip
    assert cell.source_columns["sex"] == "SEX: Sex"


def test_the_unit_multiplier_is_applied(write_file: WriteFile) -> None:
    path = write_file(
        sdmx(
            "DATAFLOW,SERIES,INDICATOR,REF_AREA,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,UNIT_MULT,"
            "LOWER,UPPER",
            "DF,VC_DSR_AFFCT,1.5.1,BGD,2020,12.5,NUMBER,3,10,15",
            "DF,VC_DSR_AFFCT,1.5.1,BGD,2021,7,NUMBER,0,,",
            "DF,VC_DSR_AFFCT,1.5.1,BGD,2022,7,NUMBER,Thousands,,",
        )
    )

    thousands, units, bad = read(path)

    assert isinstance(thousands, RawCell) and isinstance(units, RawCell)
    assert (thousands.fields["value"], thousands.fields["lower"], thousands.fields["upper"]) == (
        "12500", "10000", "15000",
    )  # fmt: skip
    assert units.fields["value"] == "7"
    assert isinstance(bad, Problem)
    assert (bad.row, bad.column, bad.value) == (4, "UNIT_MULT", "Thousands")


def test_a_series_of_several_indicators_needs_an_indicator_column(
    node_engine: Engine, write_file: WriteFile
) -> None:
    header = "DATAFLOW,SERIES,REF_AREA,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE"
    row = "DF,VC_DSR_MISS,50,2020,120,NUMBER"
    before = fingerprint(node_engine)

    with pytest.raises(IngestError) as refused:
        ingest_sdmx(node_engine, write_file(sdmx(header, row)))

    assert fingerprint(node_engine) == before
    (problem,) = refused.value.problems
    assert (problem.row, problem.column, problem.value) == (2, "SERIES", "VC_DSR_MISS")
    assert "1.5.1, 11.5.1, 13.1.1" in problem.expected and "INDICATOR" in problem.expected

    report = ingest_sdmx(node_engine, write_file(sdmx(header + ",INDICATOR", row + ",11.5.1")))
    assert report.rows_stored == 1
    assert stored(node_engine)[0].indicator == "11.5.1"


def test_unknown_codes_are_reported_with_row_and_column(
    node_engine: Engine, write_file: WriteFile
) -> None:
    path = write_file(
        sdmx(
            "DATAFLOW,SERIES,REF_AREA,SEX,COMPOSITE_BREAKDOWN,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE",
            "DF,SL_TLF_NEET,50,_T,_T,2022,26.4,PT",
            "DF,SL_TLF_NEET,999,_T,_T,2022,26.4,PT",
            "DF,SL_TLF_NEET,1,_T,_T,2022,26.4,PT",
            "DF,SL_TLF_NEET,XYZ,_T,_T,2022,26.4,PT",
            "DF,SL_TLF_NEET,404,X,_T,2022,26.4,PT",
            "DF,NOT_A_SERIES,404,_T,_T,2022,26.4,PT",
            "DF,SL_TLF_NEET,404,_T,GRD_NOPE,2022,26.4,PT",
            "DF,SL_TLF_NEET,404,_T,_T,2022,26.4,PERCENTAGE",
            "DF,SL_TLF_NEET,404,_T,_T,21st century,26.4,PT",
        )
    )
    before = fingerprint(node_engine)

    with pytest.raises(IngestError) as refused:
        ingest_sdmx(node_engine, path)

    assert fingerprint(node_engine) == before
    assert [(p.row, p.column, p.value) for p in refused.value.problems] == [
        (3, "REF_AREA", "999"),
        (4, "REF_AREA", "1"),  # the world: an M49 region, not a country
        (5, "REF_AREA", "XYZ"),
        (6, "SEX", "X"),
        (7, "SERIES", "NOT_A_SERIES"),
        (8, "COMPOSITE_BREAKDOWN", "GRD_NOPE"),
        (9, "UNIT_MEASURE", "PERCENTAGE"),
        (10, "TIME_PERIOD", "21st century"),
    ]


def test_breakdowns_the_product_does_not_hold_are_left_out(
    node_engine: Engine, write_file: WriteFile
) -> None:
    path = write_file(
        sdmx(
            "DATAFLOW,FREQ,REPORTING_TYPE,SERIES,REF_AREA,OCCUPATION,ACTIVITY,COMPOSITE_BREAKDOWN,"
            "TIME_PERIOD,OBS_VALUE,UNIT_MEASURE",
            "DF,A,G,SL_TLF_NEET,50,_T,_T,_T,2022,26.4,PT",
            "DF,A,G,SL_TLF_NEET,50,ISCO08_1,_T,_T,2022,3.1,PT",
            "DF,A,G,SL_TLF_NEET,50,,ISIC4_C,_T,2022,4.2,PT",
            "DF,A,G,SL_TLF_NEET,50,_T,_T,MS_MIGRANT,2022,30.5,PT",
            "DF,A,G,SL_TLF_NEET,50,_T,_T,IO_AFDB,2022,1.0,PT",
            "DF,A,G,SL_TLF_NEET,50,_T,_T,_T,2022,2.0,HA",
        )
    )

    report = ingest_sdmx(node_engine, path)

    assert (report.rows_read, report.rows_stored, report.rows_excluded) == (6, 2, 4)
    assert report.exclusions == {
        "dimension OCCUPATION=ISCO08_1 is not held by the product": 1,
        "dimension ACTIVITY=ISIC4_C is not held by the product": 1,
        "dimension COMPOSITE_BREAKDOWN=IO_AFDB is not held by the product": 1,
        "UNIT_MEASURE=HA is not held by the product": 1,
    }
    assert [o.group_code for o in stored(node_engine)] == ["_T", "MIGRANT"]

    before = fingerprint(node_engine)
    with pytest.raises(IngestError) as refused:
        ingest_sdmx(node_engine, path, strict=True)
    assert fingerprint(node_engine) == before
    assert [(p.row, p.column, p.value) for p in refused.value.problems] == [
        (3, "OCCUPATION", "ISCO08_1"),
        (4, "ACTIVITY", "ISIC4_C"),
        (6, "COMPOSITE_BREAKDOWN", "IO_AFDB"),
        (7, "UNIT_MEASURE", "HA"),
    ]


def test_values_withheld_or_missing_at_source_are_left_out(write_file: WriteFile) -> None:
    path = write_file(
        sdmx(
            "DATAFLOW,SERIES,REF_AREA,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,OBS_STATUS,CONF_STATUS",
            "DF,SL_TLF_NEET,50,2020,,PT,,C",
            "DF,SL_TLF_NEET,50,2021,,PT,O,F",
            "DF,SL_TLF_NEET,50,2022,NaN,PT,M,",
            "DF,SL_TLF_NEET,50,2023,12.0,PT,A,C",
        )
    )

    items = read(path)

    assert items[:3] == [
        Excluded(2, ("confidential in source",)),
        Excluded(3, ("blank OBS_VALUE",)),
        Excluded(4, ("blank OBS_VALUE",)),
    ]
    # A value is data whatever its confidentiality: the node's own levels decide who reads it.
    assert isinstance(items[3], RawCell) and items[3].fields["value"] == "12.0"


def test_deletions_are_refused(node_engine: Engine, write_file: WriteFile) -> None:
    path = write_file(SDMX_2_0.replace(",I,A,N,", ",D,A,N,"))

    with pytest.raises(IngestError) as refused:
        ingest_sdmx(node_engine, path)

    (problem,) = refused.value.problems
    assert (problem.row, problem.column, problem.value) == (2, "ACTION", "D")
    assert "deletions (D) are not supported" in problem.expected
    assert stored(node_engine) == []


@pytest.mark.parametrize(
    ("header", "options", "expected"),
    [
        ("SERIES,REF_AREA,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE", {}, [("SERIES", "an SDMX-CSV")]),
        (
            "DATAFLOW,SERIES,REF_AREA,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,COLOUR",
            {},
            [("COLOUR", "an SDG DSD component")],
        ),
        (
            "DATAFLOW,SERIES,REF_AREA,SEX,SEX,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE",
            {},
            [("SEX", "each column named once")],
        ),
        (
            "DATAFLOW,SERIES,TIME_PERIOD,VALUE,UNIT_MEASURE",
            {},
            [
                ("VALUE", "an SDG DSD component"),
                ("OBS_VALUE", "the column OBS_VALUE"),
                ("REF_AREA", "the column REF_AREA"),
            ],
        ),
        ("DATAFLOW,REF_AREA,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE", {}, [("SERIES", "a SERIES or")]),
        (
            "STRUCTURE,ACTION,SERIES,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE",
            {"ref_area": "BGD"},
            [("STRUCTURE_ID", "the column STRUCTURE_ID")],
        ),
    ],
)
def test_a_header_that_is_not_sdg_sdmx_csv_is_refused(
    write_file: WriteFile, header: str, options: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    problems = read(write_file(sdmx(header, "x")), **options)

    found = [(p.column, p.expected) for p in problems if isinstance(p, Problem)]
    assert len(found) == len(problems) == len(expected)
    for (column, text), (want_column, want_text) in zip(found, expected, strict=True):
        assert column == want_column and text.startswith(want_text)


def test_ref_area_may_come_from_the_command_line(write_file: WriteFile) -> None:
    path = write_file(
        sdmx("DATAFLOW,SERIES,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE", "DF,SL_TLF_NEET,2022,1,PT")
    )

    (cell,) = read(path, ref_area="npl")

    assert isinstance(cell, RawCell) and cell.fields["ref_area"] == "NPL"


def test_the_nodes_own_sdmx_download_ingests_again(
    node_engine: Engine, write_file: WriteFile
) -> None:
    def cell(id: int, **fields: object) -> ReleasedCell:
        base: dict[str, object] = {
            "id": id, "dataset": "survey", "organisation": "Community Voices", "indicator": "3.8.1",
            "series": "", "ref_area": "BGD", "sub_area": "", "time_period": "2022", "sex": "_T",
            "age": "_T", "disability_status": "_T", "urbanisation": "_T",
            "income_wealth_quantile": "_T", "group": "_T", "unit": "PERCENT", "value": 48.5,
            "n": 400, "numerator": 194.0, "lower": 44.1, "upper": 52.9, "obs_status": "A",
            "note": "household survey, 2022", "suppression": None,
        }  # fmt: skip
        return ReleasedCell(**(base | fields))  # type: ignore[arg-type]

    cells = [
        cell(1),
        cell(2, sex="F", disability_status="PD", group="DALIT", value=38.2, n=34, note=None,
             lower=30.0, upper=46.4),
        cell(3, group="MIGRANT", series="SH_ACS_UNHC", unit="RATE", value=12.0, lower=None),
        cell(4, sex="M", value=None, n=None, numerator=None, lower=None, upper=None,
             suppression=Reason.BELOW_THRESHOLD),
        cell(5, ref_area="KEN", sub_area="KE-30", time_period="2019/2021", unit="NUMBER",
             value=1200.0, n=1200, lower=None, upper=None),
    ]  # fmt: skip
    path = write_file("".join(sdmx_csv_lines(cells, load_reference())))

    report = ingest_sdmx(node_engine, path)

    assert report.exclusions == {"confidential in source": 1}
    got = [
        (o.indicator, o.series, o.ref_area, o.sub_area, o.time_period, o.sex,
         o.disability_status, o.group_code, o.value, o.unit, o.n, o.numerator, o.lower, o.upper,
         o.obs_status, o.note)
        for o in stored(node_engine)
    ]  # fmt: skip
    want = [
        (c.indicator, c.series, c.ref_area, c.sub_area, c.time_period, c.sex,
         c.disability_status, c.group, c.value, c.unit, c.n, c.numerator, c.lower, c.upper,
         c.obs_status, c.note)
        for c in cells
        if c.suppression is None
    ]  # fmt: skip
    assert got == want


def test_a_breakdown_every_row_shares_goes_into_the_series(
    node_engine: Engine, write_file: WriteFile
) -> None:
    path = write_file(
        sdmx(
            "DATAFLOW,SERIES,REF_AREA,SEX,ACTIVITY,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE",
            "DF,SL_TLF_NEET,50,_T,ISIC4_C,2022,26.4,PT",
            "DF,SL_TLF_NEET,50,F,ISIC4_C,2022,30.1,PT",
        )
    )

    report = ingest_sdmx(node_engine, path)

    assert (report.rows_stored, report.exclusions) == (2, {})
    assert {o.series for o in stored(node_engine)} == {"SL_TLF_NEET|ACTIVITY=ISIC4_C"}
    assert {o.indicator for o in stored(node_engine)} == {"8.6.1"}


def test_rows_that_give_one_key_different_values_are_left_out_as_ambiguous(
    node_engine: Engine, write_file: WriteFile
) -> None:
    path = write_file(
        sdmx(
            "DATAFLOW,SERIES,REF_AREA,SEX,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE",
            "DF,SL_TLF_NEET,50,_T,2022,26.4,PT",
            "DF,SL_TLF_NEET,50,F,2022,38.6,PT",
            "DF,SL_TLF_NEET,50,F,2022,38.9,PT",
        )
    )

    report = ingest_sdmx(node_engine, path)

    assert (report.rows_read, report.rows_stored, report.rows_excluded) == (3, 1, 2)
    assert report.exclusions == {AMBIGUOUS: 2}
    with pytest.raises(IngestError, match="one row per key"):
        ingest_sdmx(node_engine, path, slug="strict", strict=True)
