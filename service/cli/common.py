"""What every `lnob` command shares: settings, engines, errors shown as one clear line."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from rich.console import Console

from auth.levels import Level
from service.errors import IngestError, LnobError
from service.settings import Settings, load_settings

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


def fail_cleanly(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the product's errors into a message and exit status 1, with no traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except IngestError as exc:
            err_console.print(f"[bold red]refused[/]: {exc.total} problem(s); nothing was changed")
            err_console.print(exc.report(), markup=False, highlight=False)
            raise SystemExit(1) from None
        except LnobError as exc:
            err_console.print(f"[bold red]error[/]: {exc}", highlight=False)
            raise SystemExit(1) from None

    return wrapper


def settings_from_env() -> Settings:
    return load_settings()


def operator() -> str:
    """Who runs this command, as the audit log records it."""
    try:
        user = getpass.getuser()
    except OSError:
        user = "unknown"
    return f"cli:{user}"


class LevelType(click.ParamType[Level, object]):
    name = "level"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Level:
        if isinstance(value, Level):
            return value
        try:
            return Level.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


LEVEL = LevelType()
