"""The product's units and how SDMX `UNIT_MEASURE` codes map onto them.

The product keeps five units because pooling depends on them (counts add up, percentages
combine by weighted mean). An SDMX unit that is none of these (hectares, USD, tonnes, yes/no)
has no product unit: `unit_from_sdmx` answers `None` and the caller decides.
"""

from __future__ import annotations

from types import MappingProxyType

from service.reference.codelists import Code, Codelist

UNIT_CODELIST_ID = "CL_UNIT"

PRODUCT_UNITS: tuple[Code, ...] = (
    Code("NUMBER", "Number: a count of people, households or events"),
    Code("PERCENT", "Percentage: a share out of 100"),
    Code("RATE", "Rate: a value per stated base other than 100 (per 1,000 live births, ...)"),
    Code("MEAN", "Mean: an average of a measured quantity"),
    Code("SCORE", "Score: a value on a scale or index"),
)

# Every key is a code of CL_UNIT_MEASURE (the tests check it). MEAN has no SDMX code: SDMX
# states a mean in the unit measured (USD, years, kilograms), which says nothing about it
# being a mean, so no SDMX unit maps to MEAN.
SDMX_UNITS: MappingProxyType[str, str] = MappingProxyType(
    {
        "NUMBER": "NUMBER",
        "PT": "PERCENT",
        "PER_100_POP": "RATE",
        "PER_1000_POP": "RATE",
        "PER_10000_POP": "RATE",
        "PER_100000_POP": "RATE",
        "PER_1000000_POP": "RATE",
        "PER_100_LIVE_BIRTHS": "RATE",
        "PER_1000_LIVE_BIRTHS": "RATE",
        "PER_100000_LIVE_BIRTHS": "RATE",
        "PER_1000_UNINFECTED_POP": "RATE",
        "PER_100000_EMP": "RATE",
        "PER_100000_FTE": "RATE",
        "PER_100000_PRSN_INSR": "RATE",
        "PER_100000_WKRS_EMP": "RATE",
        "PER_100000_WKRS_EXPD": "RATE",
        # A ratio (parity indices of 4.5.1) and a probability (3.4.1's mortality "rate") are
        # quotients against a base, like the per-N rates.
        "RO": "RATE",
        "PROB": "RATE",
        "IX": "SCORE",
        "SCORE": "SCORE",
    }
)


def unit_codelist() -> Codelist:
    return Codelist(UNIT_CODELIST_ID, "Unit", PRODUCT_UNITS)


def unit_from_sdmx(unit_measure: str) -> str | None:
    """The product unit for an SDMX `UNIT_MEASURE` code, or `None` when there is none."""
    return SDMX_UNITS.get(unit_measure.strip())
