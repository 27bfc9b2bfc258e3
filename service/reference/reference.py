"""`Reference`: the SDG framework, codelists, groups, units and areas the product ships with."""

from __future__ import annotations

import csv
import functools
import io
import logging
import time
from importlib import resources
from importlib.resources.abc import Traversable

from service.reference import groups as group_codes
from service.reference import units
from service.reference.areas import Areas
from service.reference.codelists import Codelist, read_codelist
from service.reference.expectations import OfficialExpectation, read_expectations
from service.reference.framework import (
    Goal,
    Indicator,
    Target,
    indicator_number,
    read_framework,
)
from service.reference.groups import GroupCode

logger = logging.getLogger(__name__)

FRAMEWORK_FILE = "SDG_Target_Indicator_UNSD_2023.csv"
SERIES_FILE = "series_to_indicator.csv"
CONSTRAINTS_FILE = "global_content_constraints.csv"
AREA_FILE = "CL_AREA.csv"

# Dimension id -> (codelist id = file name, concept name from the SDG data structure).
SDMX_CODELISTS: dict[str, tuple[str, str]] = {
    "SEX": ("CL_SEX", "Sex"),
    "AGE": ("CL_AGE", "Age"),
    "DISABILITY_STATUS": ("CL_DISABILITY", "Disability status"),
    "URBANISATION": ("CL_URBANISATION", "Degree of urbanisation"),
    "INCOME_WEALTH_QUANTILE": ("CL_QUANTILE", "Income or wealth quantile"),
    "UNIT_MEASURE": ("CL_UNIT_MEASURE", "Unit of measure"),
    "OBS_STATUS": ("CL_OBS_STATUS", "Observation status"),
    "COMPOSITE_BREAKDOWN": ("CL_COMP_BREAKDOWN", "Composite breakdown"),
    "SERIES": ("CL_SERIES", "SDG Series"),
}


class Reference:
    """Read-only reference data; build it once with `load_reference()`."""

    def __init__(self, data: Traversable) -> None:
        with _open(data, FRAMEWORK_FILE) as lines:
            framework = read_framework(lines)
        self.goals: tuple[Goal, ...] = framework.goals
        self.targets: tuple[Target, ...] = framework.targets
        self.indicators: tuple[Indicator, ...] = framework.indicators
        self.groups: tuple[GroupCode, ...] = group_codes.GROUPS
        self._indicators = {indicator.code: indicator for indicator in self.indicators}
        # A repeated indicator's UNSD code (C200303 = 1.5.1, 11.5.1, 13.1.1) names its first number.
        self._by_unsd: dict[str, str] = {}
        for indicator in self.indicators:
            self._by_unsd.setdefault(indicator.unsd_code.upper(), indicator.code)

        self._codelists: dict[str, Codelist] = {}
        for dimension, (codelist_id, name) in SDMX_CODELISTS.items():
            with _open(data, f"{codelist_id}.csv") as lines:
                self._codelists[dimension] = read_codelist(codelist_id, name, lines)
        self._codelists["GROUP"] = group_codes.group_codelist()
        self._codelists["UNIT"] = units.unit_codelist()
        with _open(data, AREA_FILE) as lines:
            self._areas = Areas(read_codelist("CL_AREA", "Reference area", lines))

        self._series_indicators: dict[str, tuple[str, ...]] = {}
        with _open(data, SERIES_FILE) as lines:
            for row in csv.DictReader(lines):
                numbers = (number.strip() for number in row["indicator"].split(";"))
                self._series_indicators[row["series_code"].strip()] = tuple(filter(None, numbers))
        with _open(data, CONSTRAINTS_FILE) as lines:
            self._expectations = read_expectations(
                lines, self.indicators_for_series, self.normalise_indicator, self.units_from_sdmx
            )

    # SDG framework

    def indicator(self, code: str) -> Indicator | None:
        return self._indicators.get(code)

    def normalise_indicator(self, text: str) -> str | None:
        """`" 3-8-1 "`, `"03.08.01"` or `"C030801"` -> `"3.8.1"`; `None` if no such indicator.

        A repeated indicator's UNSD code gives its first number (`"C200303"` -> `"1.5.1"`).
        """
        stripped = text.strip()
        by_unsd = self._by_unsd.get(stripped.upper())
        if by_unsd is not None:
            return by_unsd
        number = indicator_number(stripped)
        return number if number in self._indicators else None

    # Codelists

    def codelist(self, dimension: str) -> Codelist:
        """The codelist of an SDMX dimension id (`"SEX"`, ...), or of `"GROUP"` or `"UNIT"`."""
        try:
            return self._codelists[dimension]
        except KeyError:
            known = ", ".join(self._codelists)
            raise KeyError(f"no codelist for dimension {dimension!r}; known: {known}") from None

    def group_from_sdmx(self, dimension: str, code: str) -> str | None:
        """The product group an SDMX code denotes, where unambiguous (`MS_MIGRANT` -> `MIGRANT`).

        AGE and DISABILITY_STATUS codes answer too (`PD` -> `PWD`), for comparing coverage; an
        import keeps those codes in the product's own `age` and `disability_status` fields.
        """
        return group_codes.group_from_sdmx(dimension, code)

    def sdmx_from_group(self, group: str) -> tuple[str, str] | None:
        """The SDMX (dimension, code) to export a group as, the one that maps back; else `None`.

        `ETHNIC_MIN` -> (`COMPOSITE_BREAKDOWN`, `GRD_ETH`); `PWD` -> (`DISABILITY_STATUS`, `PD`).
        """
        return group_codes.sdmx_from_group(group)

    def units_from_sdmx(self, unit_measure: str) -> str | None:
        """The product unit for an SDMX UNIT_MEASURE code (`PT` -> `PERCENT`), or `None`."""
        return units.unit_from_sdmx(unit_measure)

    # Areas

    def is_country(self, iso3: str) -> bool:
        """Whether `iso3` is an ISO 3166-1 alpha-3 code, written in capitals (`"BGD"`)."""
        return self._areas.is_country(iso3)

    def country_name(self, iso3: str) -> str | None:
        return self._areas.country_name(iso3)

    def iso3_from_m49(self, m49: str | int) -> str | None:
        """`"50"`, `"050"` or `50` -> `"BGD"`; M49 regions and groupings -> `None`."""
        return self._areas.iso3_from_m49(m49)

    def m49_from_iso3(self, iso3: str) -> str | None:
        """`"BGD"` -> `"50"`: the M49 code as SDMX's CL_AREA writes it, without leading zeros."""
        return self._areas.m49_from_iso3(iso3)

    def is_subdivision(self, iso3: str, code: str) -> bool:
        """Whether `code` is an ISO 3166-2 code (`BD-13`) or a P-code (`BD30`) of that country."""
        return self._areas.is_subdivision(iso3, code)

    # SDMX series and official statistics

    def indicators_for_series(self, series: str) -> tuple[str, ...]:
        """The indicator numbers an SDMX series reports (three for a repeated indicator)."""
        return self._series_indicators.get(series.strip(), ())

    def official_expectations(self) -> list[OfficialExpectation]:
        """One entry per global series: its indicators and the codes each dimension may take."""
        return list(self._expectations)


@functools.cache
def load_reference() -> Reference:
    """The reference data shipped in `service/reference/data`, read once per process."""
    started = time.perf_counter()
    reference = Reference(resources.files("service.reference") / "data")
    logger.debug("reference data loaded in %.3f s", time.perf_counter() - started)
    return reference


def _open(data: Traversable, name: str) -> io.StringIO:
    # newline="" lets the csv module handle the CRLF line ends the files come with.
    return io.StringIO((data / name).read_text(encoding="utf-8"), newline="")
