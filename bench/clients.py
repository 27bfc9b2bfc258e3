"""GraphQL requests as the benchmarks send them: checked once, then timed as bare round trips."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

ACCEPT = "application/graphql-response+json, application/json;q=0.9"


class BadAnswer(RuntimeError):
    """A server answered a benchmark's question with an error: its timings would mean nothing."""


def graphql(
    client: httpx.Client, url: str, query: str, variables: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """The `data` of one answer; raises `BadAnswer` on an HTTP or GraphQL error."""
    response = client.post(
        url, json={"query": query, "variables": dict(variables or {})}, headers={"accept": ACCEPT}
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise BadAnswer(f"{url}: HTTP {response.status_code}: {str(body)[:500]}")
    data: dict[str, Any] = body["data"]
    return data


def round_trip(
    client: httpx.Client, url: str, query: str, variables: Mapping[str, object] | None = None
) -> Callable[[], int]:
    """One request, read to its last byte; returns the body's size. Checked by `graphql` first."""
    payload = {"query": query, "variables": dict(variables or {})}
    headers = {"accept": ACCEPT}

    def call() -> int:
        response = client.post(url, json=payload, headers=headers)
        if response.status_code != 200:
            raise BadAnswer(f"{url}: HTTP {response.status_code}: {response.text[:500]}")
        return len(response.content)

    return call
