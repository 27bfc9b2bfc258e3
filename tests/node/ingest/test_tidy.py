from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from auth.levels import Level
from service.errors import IngestError
from service.node import audit
from service.node.ingest import DatasetMeta, IngestOptions, ingest_file
from service.node.models import AuditEntry, Dataset, DatasetVersion, NodeIdentity, Observation
from tests.node.ingest.conftest import EXAMPLE, GOOD_ROWS, Ingest, WriteFile, tidy_text


def observations(engine: Engine) -> list[Observation]:
    with Session(engine) as session:
        return list(session.scalars(select(Observation).order_by(Observation.source_row)))


def test_the_example_file_ingests_with_its_computed_columns(
    node_engine: Engine, ingest: Ingest
) -> None:
    report = ingest(EXAMPLE, title="Community survey 2023")
    rows = EXAMPLE.read_text(encoding="utf-8").count("\n") - 1
    assert (report.version, report.rows_read, report.rows_stored, report.rows_excluded) == (
        1, rows, rows, 0,
    )  # fmt: skip
    stored = observations(node_engine)
    assert len(stored) == rows
    headline, female = stored[0], stored[1]
    assert (headline.indicator, headline.series, headline.ref_area, headline.sub_area) == (
        "10.3.1", "VC_VOV_GDSD", "BGD", "",
    )  # fmt: skip
    assert (headline.time_period, headline.year_start, headline.year_end) == ("2023", 2023, 2023)
    assert (headline.value, headline.unit, headline.n, headline.numerator) == (
        18.4, "PERCENT", 1200, 221.0,
    )  # fmt: skip
    assert (headline.lower, headline.upper, headline.obs_status) == (16.2, 20.6, "A")
    assert headline.breakdown == "" and female.breakdown == "SEX"
    assert headline.group_code == "_T" and headline.age == "_T"
    expected_key = hashlib.sha256(b"10.3.1|VC_VOV_GDSD|BGD||2023|PERCENT").hexdigest()[:32]
    assert headline.table_key == female.table_key == expected_key
    breakdowns = {(o.sex, o.disability_status, o.group_code): o.breakdown for o in stored}
    assert breakdowns[("F", "PD", "_T")] == "DISABILITY_STATUS+SEX"
    assert breakdowns[("_T", "PD", "DALIT")] == "DISABILITY_STATUS+GROUP"
    by_area = {o.sub_area: o.table_key for o in stored if o.indicator == "10.3.1"}
    assert by_area["BD-F"] != by_area[""]


def test_a_new_file_replaces_the_previous_version(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    ingest(write_file(tidy_text(*GOOD_ROWS)))
    second = write_file(tidy_text("4.1.2,BGD,,2023,_T,_T,_T,71.0,PERCENT,300"), name="second.csv")
    report = ingest(second)

    assert report.version == 2 and report.rows_stored == 1
    stored = observations(node_engine)
    assert [(o.indicator, o.time_period) for o in stored] == [("4.1.2", "2023")]
    with Session(node_engine) as session:
        dataset = session.scalars(select(Dataset)).one()
        versions = session.scalars(select(DatasetVersion).order_by(DatasetVersion.version)).all()
        assert [v.version for v in versions] == [1, 2]
        assert dataset.current_version_id == versions[1].id == stored[0].version_id
        assert versions[1].source_file == "second.csv"
        assert versions[1].source_sha256 == hashlib.sha256(second.read_bytes()).hexdigest()
        assert (versions[1].row_count, versions[1].loaded_by) == (1, "data-team")
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [(e.action, e.operation, e.caller, e.level) for e in entries] == [
            ("ingest", "ingest survey", "data-team", "owner"),
        ] * 2
        detail = json.loads(entries[1].detail)
        assert detail["version"] == 2 and detail["file"] == "second.csv"
        assert detail["sha256"] == versions[1].source_sha256 and detail["rows_stored"] == 1
        assert audit.verify(session).ok


def test_metadata_is_set_then_kept_when_not_given(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    path = write_file(tidy_text(*GOOD_ROWS))
    ingest(
        path,
        title="Health coverage survey",
        methodology="community-driven survey",
        release_level=Level.COALITION,
        published=True,
    )
    ingest(path, licence="CC-BY-4.0")
    with Session(node_engine) as session:
        dataset = session.scalars(select(Dataset)).one()
    assert (dataset.title, dataset.methodology, dataset.licence) == (
        "Health coverage survey", "community-driven survey", "CC-BY-4.0",
    )  # fmt: skip
    assert (dataset.release_level, dataset.discovery_level) == (Level.COALITION, Level.COALITION)
    assert dataset.published is True and dataset.organisation == "Community Voices"


def test_a_new_dataset_defaults_to_the_owner_level_and_the_node_organisation(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    with Session(node_engine) as session, session.begin():
        session.add(NodeIdentity(node_id="n1", name="Node", organisation="Dalit Rights Network"))
    ingest(write_file(tidy_text(*GOOD_ROWS)), organisation=None)
    with Session(node_engine) as session:
        dataset = session.scalars(select(Dataset)).one()
    assert dataset.organisation == "Dalit Rights Network" and dataset.title == "survey"
    assert (dataset.release_level, dataset.discovery_level) == (Level.OWNER, Level.OWNER)
    assert dataset.published is False


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"release_level": Level.PUBLIC, "discovery_level": Level.GOVERNMENT}, None),
        ({"discovery_level": Level.OWNER, "release_level": Level.COALITION}, None),
        # Loosening the release level below a dataset's discovery level needs both changed.
        ({"release_level": Level.OWNER}, {"release_level": Level.PUBLIC}),
    ],
)
def test_a_discovery_level_stricter_than_the_release_level_is_refused(
    node_engine: Engine,
    ingest: Ingest,
    write_file: WriteFile,
    first: dict[str, Level],
    second: dict[str, Level] | None,
) -> None:
    path = write_file(tidy_text(*GOOD_ROWS))
    if second is not None:
        ingest(path, **first)
    with pytest.raises(IngestError) as refused:
        ingest(path, **(second or first))
    assert "no stricter than the release level" in str(refused.value)


@pytest.mark.parametrize(
    "slug", ["Survey", "survey_2023", "-survey", "survey-", "a--b", "", "s" * 101]
)
def test_a_slug_other_than_lowercase_letters_digits_and_hyphens_is_refused(
    ingest: Ingest, write_file: WriteFile, slug: str
) -> None:
    with pytest.raises(IngestError) as refused:
        ingest(write_file(tidy_text(*GOOD_ROWS)), slug=slug)
    assert "lowercase letters, digits" in str(refused.value)


def test_metadata_longer_than_its_field_is_refused(ingest: Ingest, write_file: WriteFile) -> None:
    with pytest.raises(IngestError) as refused:
        ingest(write_file(tidy_text(*GOOD_ROWS)), title="t" * 301, contact="c" * 201)
    assert [(p.column, p.expected) for p in refused.value.problems] == [
        ("title", "at most 300 characters"),
        ("contact", "at most 200 characters"),
    ]


def test_a_new_dataset_without_any_organisation_is_refused(
    ingest: Ingest, write_file: WriteFile
) -> None:
    with pytest.raises(IngestError, match="organisation"):
        ingest(write_file(tidy_text(*GOOD_ROWS)), organisation=None)


def test_columns_may_come_in_any_order_and_case_and_optional_ones_may_be_left_out(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    text = "Value,UNIT,Time_Period,Ref_Area,Indicator,n\n12.5,percent,2021-M03,bgd,3-8-1,120.0\n"
    ingest(write_file(text))
    [cell] = observations(node_engine)
    assert (cell.indicator, cell.ref_area, cell.time_period, cell.unit) == (
        "3.8.1", "BGD", "2021-03", "PERCENT",
    )  # fmt: skip
    assert (cell.value, cell.n, cell.sex, cell.group_code, cell.breakdown) == (
        12.5, 120, "_T", "_T", "",
    )  # fmt: skip


def test_an_sdmx_unit_code_is_read_as_the_product_unit(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    ingest(write_file("indicator,ref_area,time_period,value,unit\n3.8.1,BGD,2021,12.5,PT\n"))
    assert [o.unit for o in observations(node_engine)] == ["PERCENT"]


def test_a_missing_value_may_be_left_empty_with_status_m(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    ingest(
        write_file(
            "indicator,ref_area,time_period,value,unit,obs_status\n3.8.1,BGD,2021,,PERCENT,M\n"
        )
    )
    [cell] = observations(node_engine)
    assert (cell.value, cell.obs_status) == (None, "M")


def test_progress_reaches_the_size_of_the_file(node_engine: Engine) -> None:
    seen: list[tuple[int, int]] = []
    ingest_file(
        node_engine,
        EXAMPLE,
        DatasetMeta(slug="survey", organisation="Community Voices"),
        IngestOptions(format="tidy"),
        loaded_by="data-team",
        progress=lambda done, total: seen.append((done, total)),
    )
    size = EXAMPLE.stat().st_size
    assert seen[-1] == (size, size)


def test_the_country_may_be_given_for_the_whole_file(
    node_engine: Engine, write_file: WriteFile
) -> None:
    path = write_file("indicator,time_period,value,unit\n3.8.1,2021,12.5,PERCENT\n")
    ingest_file(
        node_engine,
        path,
        DatasetMeta(slug="survey", organisation="Community Voices"),
        IngestOptions(format="tidy", ref_area="NPL"),
        loaded_by="data-team",
    )
    assert [o.ref_area for o in observations(node_engine)] == ["NPL"]
    with Session(node_engine) as session:
        assert session.scalar(select(func.count()).select_from(Observation)) == 1
