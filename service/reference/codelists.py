"""Codelists: ordered, read-only sets of codes, as SDMX publishes them (`code,name_en,parent`)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from service.reference.framework import clean_text


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    name: str
    parent: str | None = None


class Codelist:
    """An ordered, read-only mapping code -> `Code`; iterating yields the `Code`s in order."""

    __slots__ = ("_codes", "_id", "_name")

    def __init__(self, codelist_id: str, name: str, codes: Iterable[Code]) -> None:
        self._id = codelist_id
        self._name = name
        self._codes: dict[str, Code] = {}
        for code in codes:
            if code.code in self._codes:
                raise ValueError(f"{codelist_id}: code {code.code!r} is listed twice")
            self._codes[code.code] = code

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    def __contains__(self, code: object) -> bool:
        return code in self._codes

    def get(self, code: str) -> Code | None:
        return self._codes.get(code)

    def __getitem__(self, code: str) -> Code:
        try:
            return self._codes[code]
        except KeyError:
            raise KeyError(f"{code!r} is not a code of {self._id}") from None

    def __iter__(self) -> Iterator[Code]:
        return iter(self._codes.values())

    def __len__(self) -> int:
        return len(self._codes)

    def codes(self) -> tuple[str, ...]:
        return tuple(self._codes)

    def __repr__(self) -> str:
        return f"<Codelist {self._id} ({len(self)} codes)>"


def read_codelist(codelist_id: str, name: str, lines: Iterable[str]) -> Codelist:
    """Parse one SDMX codelist CSV; names lose stray spaces, an empty parent becomes `None`."""
    codes = (
        Code(row["code"].strip(), clean_text(row["name_en"]), row["parent"].strip() or None)
        for row in csv.DictReader(lines)
    )
    return Codelist(codelist_id, name, codes)
