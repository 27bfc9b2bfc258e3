"""Reference data the product ships: the SDG framework, SDMX codelists, groups, units, areas.

`load_reference()` reads it once per process; everything it returns is read-only.
"""

from __future__ import annotations

from service.reference.codelists import Code, Codelist
from service.reference.expectations import ALL, AllowedCodes, OfficialExpectation
from service.reference.framework import Goal, Indicator, Target
from service.reference.groups import GroupCode
from service.reference.reference import Reference, load_reference

__all__ = [
    "ALL",
    "AllowedCodes",
    "Code",
    "Codelist",
    "Goal",
    "GroupCode",
    "Indicator",
    "OfficialExpectation",
    "Reference",
    "Target",
    "load_reference",
]
