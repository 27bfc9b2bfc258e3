"""Whether a command line is one the `lnob` CLI accepts: its commands exist, its options parse."""

from __future__ import annotations

from collections.abc import Sequence

import click

from service.cli import lnob


def check_command(argv: Sequence[str]) -> list[str]:
    """The command path of `lnob ARGV` (e.g. ["lnob", "node", "serve"]).

    Raises `click.UsageError` when a command does not exist, an option is unknown, a required
    one is missing or a value does not convert; runs nothing.
    """
    command: click.Command = lnob
    path = ["lnob"]
    context = command.make_context("lnob", list(argv))
    while isinstance(command, click.Group):
        rest = [*context._protected_args, *context.args]
        if not rest:
            raise click.UsageError(f"`{' '.join(path)}` needs a command", context)
        name, sub, rest = command.resolve_command(context, rest)
        if name is None or sub is None:  # pragma: no cover - resolve_command fails first
            raise click.UsageError(f"no command in {rest!r}", context)
        command, path = sub, [*path, name]
        context = sub.make_context(name, rest, parent=context)
    return path
