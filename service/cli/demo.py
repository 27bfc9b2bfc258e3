"""`lnob demo`: a local federation of demo ICSO nodes on loopback ports, until Ctrl-C."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from service.cli.common import console, fail_cleanly

EXAMPLE_QUERY = """{
  node { id organisation disclosurePolicy { levels { level threshold rounding } } }
  coverage(filter: {refAreas: ["BGD"]}) { dataset indicator group breakdown cellCount latestYear }
  observations(filter: {indicators: ["3.8.1"]}, first: 5) {
    edges { node { refArea sex group value unit n suppressionReason } } } }"""


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the nodes' files (default: a temporary folder).",
)
@fail_cleanly
def demo(folder: Path | None) -> None:
    """Start the demo federation on this machine and keep it running until Ctrl-C."""
    from service.federation_demo import run_demo_nodes

    with tempfile.TemporaryDirectory(prefix="lnob-demo-") as scratch:
        home = folder or Path(scratch)
        with (
            console.status("starting the demo federation…") as status,
            run_demo_nodes(home, progress=lambda message: status.update(message)) as federation,
        ):
            status.stop()
            console.print(f"[bold]LNOB demo federation[/] (files in {home})")
            for proc in federation.nodes:
                console.print(f"  node {proc.name:<16} {proc.url}/graphql")
            console.print("\nTry this query in GraphiQL (open a /graphql URL in a browser):")
            console.print(EXAMPLE_QUERY, highlight=False, markup=False)
            console.print("\nPress Ctrl-C to stop.")
            try:
                while all(p.process.poll() is None for p in federation.nodes):
                    time.sleep(0.5)
                console.print("[red]a node stopped unexpectedly; shutting down[/]")
            except KeyboardInterrupt:
                console.print("stopping…")
    console.print("stopped")
