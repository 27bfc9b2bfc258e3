"""The `lnob` command: `lnob node …`, `lnob coordinator …`, `lnob demo`."""

from __future__ import annotations

import logging
import sys

import click

from service.cli.auth import auth
from service.cli.coordinator import coordinator, gaps, stocktake
from service.cli.demo import demo
from service.cli.node import node
from service.errors import LnobError
from service.logging import configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level to standard error.")
def lnob(verbose: bool) -> None:
    """LNOB data federation: share aggregated data on people left behind, safely."""
    configure_logging(logging.INFO if verbose else logging.WARNING)


lnob.add_command(node)
lnob.add_command(demo)
lnob.add_command(auth)
lnob.add_command(coordinator)
lnob.add_command(stocktake)
lnob.add_command(gaps)


def main() -> None:
    try:
        lnob(standalone_mode=True)
    except LnobError as exc:  # pragma: no cover - click exits before this for handled errors
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
