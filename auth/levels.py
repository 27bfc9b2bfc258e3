"""Access levels, lowest first: public < government < coalition < owner."""

from __future__ import annotations

import enum


class Level(enum.IntEnum):
    """A caller sees a dataset whose level is at or below the caller's own level."""

    PUBLIC = 0
    GOVERNMENT = 1
    COALITION = 2
    OWNER = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        """Read a level from its lower-case name (`government`), as written in settings and CLI."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(level.label for level in cls)
            raise ValueError(f"unknown level {text!r}: expected one of {names}") from None


def can_see(caller_level: Level, dataset_level: Level) -> bool:
    return caller_level >= dataset_level
