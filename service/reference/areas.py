"""Countries and sub-national areas: ISO 3166-1 alpha-3, UN M49, ISO 3166-2 and P-codes.

For countries the M49 code is the ISO 3166-1 numeric code; SDMX's CL_AREA writes it without
leading zeros ("50" for Bangladesh). M49 region and grouping codes have no ISO counterpart and
map to no country.
"""

from __future__ import annotations

import functools
import re

import pycountry

from service.reference.codelists import Codelist

_M49 = re.compile(r"[0-9]{1,3}")
_PCODE_DIGITS = re.compile(r"[0-9]{1,15}")


class Areas:
    """Country and sub-area lookups over pycountry and the SDMX area codelist."""

    __slots__ = ("_alpha2", "_iso3_by_m49", "_m49_by_iso3", "_names")

    def __init__(self, cl_area: Codelist) -> None:
        self._alpha2: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._m49_by_iso3: dict[str, str] = {}
        self._iso3_by_m49: dict[str, str] = {}
        for country in pycountry.countries:
            iso3 = str(country.alpha_3)
            self._alpha2[iso3] = str(country.alpha_2)
            m49 = str(int(country.numeric))
            area = cl_area.get(m49)
            # Prefer the UN name SDG reporting uses; pycountry's where CL_AREA lacks the code.
            self._names[iso3] = area.name if area is not None else str(country.name)
            if area is not None:
                self._m49_by_iso3[iso3] = m49
                self._iso3_by_m49[m49] = iso3

    def is_country(self, iso3: str) -> bool:
        return iso3 in self._alpha2

    def country_name(self, iso3: str) -> str | None:
        return self._names.get(iso3)

    def iso3_from_m49(self, m49: str | int) -> str | None:
        if isinstance(m49, bool):
            return None
        text = str(m49).strip()
        if not _M49.fullmatch(text):
            return None
        return self._iso3_by_m49.get(str(int(text)))

    def m49_from_iso3(self, iso3: str) -> str | None:
        return self._m49_by_iso3.get(iso3)

    def is_subdivision(self, iso3: str, code: str) -> bool:
        """An ISO 3166-2 code of that country (`BD-13`) or a P-code of it (`BD30`, `KE047`)."""
        alpha2 = self._alpha2.get(iso3)
        if alpha2 is None or not code.startswith(alpha2):
            return False
        rest = code[len(alpha2) :]
        if rest.startswith("-"):
            return code in _subdivision_codes()
        # Humanitarian P-codes (OCHA common operational datasets): alpha-2 then digits only.
        return bool(_PCODE_DIGITS.fullmatch(rest))


@functools.cache
def _subdivision_codes() -> frozenset[str]:
    # Built on first use: pycountry's subdivision table takes a while to load, and its own
    # lookups ignore case where the product stores codes as ISO writes them.
    return frozenset(str(subdivision.code) for subdivision in pycountry.subdivisions)
