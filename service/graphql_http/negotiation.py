"""Which media type answers a request: `Accept` and its q-values (RFC 9110 §12.5.1).

`application/graphql-response+json` wins ties and stands in for a missing header (the
graphql-over-http draft's post-2025 default); `application/json` is kept for legacy clients;
`text/html` asks for GraphiQL. Only UTF-8 is spoken.
"""

from __future__ import annotations

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
HTML = "text/html"


def qualities(accept: str | None) -> dict[str, float]:
    """The q of each media type we produce, from its most specific range."""
    if accept is None or not accept.strip():
        return {GRAPHQL_RESPONSE_JSON: 1.0, JSON: 0.0, HTML: 0.0}
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media_range, parameters = media_type(part)
        if not media_range:
            continue
        try:
            quality = float(parameters.get("q", "1"))
        except ValueError:
            continue
        if not 0.0 <= quality <= 1.0:
            continue  # not a q-value (RFC 9110 §12.4.2), so not a range we can honour
        if parameters.get("charset", "utf-8") != "utf-8":
            continue  # we only speak UTF-8; the range names nothing we can send
        ranges.append((media_range, quality))
    found = {}
    for offered in (GRAPHQL_RESPONSE_JSON, JSON, HTML):
        kind = offered.split("/")[0]
        best: tuple[int, float] = (-1, 0.0)
        for media_range, quality in ranges:
            if media_range == offered:
                specificity = 2
            elif media_range == f"{kind}/*":
                specificity = 1
            elif media_range == "*/*":
                specificity = 0
            else:
                continue
            best = max(best, (specificity, quality))
        found[offered] = best[1]
    return found


def media_type(header: str) -> tuple[str, dict[str, str]]:
    """`type/subtype` lowercased, and parameters with lowercased names and unquoted values."""
    name, *rest = header.split(";")
    parameters = {}
    for item in rest:
        key, _, value = item.partition("=")
        parameters[key.strip().lower()] = value.strip().strip('"').lower()
    return name.strip().lower(), parameters
