"""Every domain error of the product, in one tree. `service.http_errors` maps them at the edge."""

from __future__ import annotations

from dataclasses import dataclass


class LnobError(Exception):
    """Root of the product's errors; `code` is what a GraphQL client sees in `extensions.code`."""

    code = "INTERNAL_ERROR"


class ConfigError(LnobError):
    """A setting is missing, malformed, or looser than the federation allows."""

    code = "CONFIG_ERROR"


class NotInitialised(LnobError):
    """The database or the node identity has not been created (`lnob node init`)."""

    code = "NOT_INITIALISED"


class NotFound(LnobError):
    code = "NOT_FOUND"


class BadRequest(LnobError):
    """The caller asked something malformed (a bad cursor, a page too large, an unknown code)."""

    code = "BAD_REQUEST"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file: where, what was found, what was expected."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    expected: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        found = "" if self.value is None else f": found {_shorten(self.value)!r}"
        return f"{where}{found}; expected {self.expected}"


def _shorten(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + f"… ({len(value)} characters)"


class IngestError(LnobError):
    """A file was refused; nothing was stored. `problems` is capped, `total` counts them all."""

    code = "INGEST_REFUSED"

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        self.problems = problems
        self.total = len(problems) if total is None else total
        first = str(problems[0]) if problems else "no problems recorded"
        more = f" (and {self.total - 1} more)" if self.total > 1 else ""
        super().__init__(f"{first}{more}")

    def report(self) -> str:
        lines = [str(problem) for problem in self.problems]
        if self.total > len(self.problems):
            lines.append(f"… and {self.total - len(self.problems)} more problems")
        return "\n".join(lines)
