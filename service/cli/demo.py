"""`lnob demo`: a local federation — three demo ICSO nodes and a coordinator — until Ctrl-C."""

from __future__ import annotations

import json
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from auth.tokens import Role
from service.cli.common import console, fail_cleanly

if TYPE_CHECKING:
    from service.federation_demo import DemoClient, DemoUser

STOCKTAKE_QUERY = """{ stocktake(filter: {countries: ["KEN"]}) {
    entries { organisation dataset indicator country group disaggregations cellCount latestYear }
    sources { nodeId status latencyMs message } } }"""
GAPS_QUERY = """{ gapAnalysis(countries: ["NPL"], goals: ["5"]) {
    largestGaps { refArea group noData stale singleSource }
    cells { row refArea group status organisations latestYear }
    sources { nodeId status latencyMs } } }"""
ROLE_QUERY = "{ stocktake { organisations { organisation datasets indicators } } }"
ROLE_TITLES = {
    Role.SECRETARIAT: "secretariat (coalition level on every node)",
    Role.GOVERNMENT: "government partner (government level)",
    Role.ICSO: "ICSO data team",
}
PERSON_TITLES = {
    Role.SECRETARIAT: "secretariat analyst (coalition level on every node)",
    Role.GOVERNMENT: "government partner (government level)",
    Role.ICSO: "ICSO staff",
}
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
            console.print(f"  dashboard          {url}/", highlight=False)
            console.print(f"  coordinator        {url}/graphql", highlight=False)
            for proc in federation.nodes:
                console.print(
                    f"  node {proc.name:<13} {proc.url}/  {proc.url}/graphql", highlight=False
                )
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
            assert federation.auth is not None
            issuer = federation.auth.url
            console.print(
                f"\n[bold]Clients[/] of the authorization server {issuer}", highlight=False
            )
            console.print(
                "Each gets a token and asks the coordinator, which forwards it to every node:"
            )
            for client in federation.clients:
                _print_client(client, issuer, url)
            _print_users(federation.users, url)
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


def token_command(client: DemoClient, issuer: str) -> str:
    """A shell line that sets TOKEN to a fresh access token of `client` (client credentials)."""
    return (
        f"TOKEN=$(curl -s -u '{client.client_id}:{client.secret}' "
        f"-d grant_type=client_credentials {issuer}/token "
        """| sed -E 's/.*"access_token": *"([^"]+)".*/\\1/')"""
    )


def call_command(url: str, query: str = ROLE_QUERY) -> str:
    """A shell line that asks `url` the GraphQL `query` with the bearer token in TOKEN."""
    body = json.dumps({"query": query})
    return (
        f'curl -s {url}/graphql -H "Authorization: Bearer $TOKEN" '
        f"-H 'Content-Type: application/json' -d '{body}'"
    )


def _print_users(users: list[DemoUser], url: str) -> None:
    console.print(
        f"\n[bold]People[/]: sign in at the dashboard {url}/ or at a node's page", highlight=False
    )
    console.print(f"  {'username':<15} {'password':<22} who", highlight=False)
    for user in users:
        who = PERSON_TITLES[user.role]
        if user.organisation:
            who += f": {user.organisation} (owner level on node {user.node_id})"
        console.print(f"  {user.username:<15} {user.password:<22} {who}", highlight=False)


def _print_client(client: DemoClient, issuer: str, url: str) -> None:
    title = ROLE_TITLES[client.role]
    if client.organisation:
        title += f": {client.organisation} (owner level on node {client.node_id})"
    console.print(f"\n# {title}", style="bold", highlight=False)
    console.print(f"  client_id      {client.client_id}", highlight=False)
    console.print(f"  client_secret  {client.secret}", highlight=False, soft_wrap=True)
    console.print(token_command(client, issuer), highlight=False, markup=False, soft_wrap=True)
    console.print(call_command(url), highlight=False, markup=False, soft_wrap=True)
