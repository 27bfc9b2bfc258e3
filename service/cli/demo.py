"""`lnob demo`: a local federation — three demo ICSO nodes and a coordinator — until Ctrl-C."""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

import click

from service.cli.common import console, fail_cleanly

STOCKTAKE_QUERY = """{ stocktake(filter: {countries: ["KEN"]}) {
    entries { organisation dataset indicator country group disaggregations cellCount latestYear }
    sources { nodeId status latencyMs message } } }"""
GAPS_QUERY = """{ gapAnalysis(countries: ["NPL"], goals: ["5"]) {
    largestGaps { refArea group noData stale singleSource }
    cells { row refArea group status organisations latestYear }
    sources { nodeId status latencyMs } } }"""
COMPARE_QUERY = """{
  compare(indicator: "1.3.1", refArea: "KEN", breakdown: ["SEX=F"], period: "2024") {
    warnings pooled { timePeriod unit value low high n suppressed suppressionReason }
    sources { nodeId status } } }"""


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the nodes' files (default: a temporary folder).",
)
@click.option("--port", type=int, default=None, help="The coordinator's port (default: free).")
@fail_cleanly
def demo(folder: Path | None, port: int | None) -> None:
    """Start the demo federation on this machine and keep it running until Ctrl-C."""
    from service.federation_demo import run_demo_federation

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # `kill` (SIGTERM) stops the demo as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, interrupt)

    with tempfile.TemporaryDirectory(prefix="lnob-demo-") as scratch:
        home = folder or Path(scratch)
        with (
            console.status("starting the demo federation…") as status,
            run_demo_federation(
                home, coordinator_port=port, progress=lambda message: status.update(message)
            ) as federation,
        ):
            status.stop()
            assert federation.coordinator is not None
            url = federation.coordinator.url
            console.print(f"[bold]LNOB demo federation[/] (files in {home})")
            console.print(f"  coordinator        {url}/graphql", highlight=False)
            for proc in federation.nodes:
                console.print(f"  node {proc.name:<13} {proc.url}/graphql", highlight=False)
            console.print("\nOpen a /graphql URL in a browser for GraphiQL, and paste:")
            for title, query in (("stocktake", STOCKTAKE_QUERY), ("gaps", GAPS_QUERY),
                                 ("compare", COMPARE_QUERY)):  # fmt: skip
                console.print(f"\n# {title}", style="bold")
                console.print(query, highlight=False, markup=False)
            console.print("\nOr from a shell:", style="bold")
            console.print(f"  .venv/bin/lnob stocktake --url {url} --country KEN", highlight=False)
            console.print(
                f"  .venv/bin/lnob gaps --url {url} --country NPL --goal 5", highlight=False
            )
            console.print(
                f"  curl -s '{url}/download/stocktake.csv?countries=KEN'", highlight=False
            )
            console.print("\nPress Ctrl-C to stop.")
            coordinator = federation.coordinator.process
            reported: set[str] = set()
            try:
                # A node that stops is reported and the federation goes on without it: the
                # coordinator's answers then name that node's status in their sources.
                while coordinator.poll() is None:
                    for proc in federation.nodes:
                        if proc.process.poll() is not None and proc.name not in reported:
                            reported.add(proc.name)
                            console.print(f"[yellow]node {proc.name} stopped[/]")
                    time.sleep(0.5)
                console.print("[red]the coordinator stopped unexpectedly; shutting down[/]")
            except KeyboardInterrupt:
                console.print("stopping…")
    console.print("stopped")
