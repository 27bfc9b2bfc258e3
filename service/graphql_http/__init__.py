"""GraphQL over HTTP for a strawberry schema, as the graphql-over-http draft asks (MUST and SHOULD).

One starlette endpoint answers GET and POST at `/graphql`:

- the response media type follows `Accept` and its q-values, `application/graphql-response+json`
  winning ties and standing in for a missing header (the spec's post-2025 default), with
  `application/json` kept for legacy clients and 406 when neither is acceptable;
- a request that is not a well-formed GraphQL-over-HTTP request is refused with a 4xx status
  whatever the media type (400, 405, 406, 413, 415), as are bad bearer tokens (401);
- a document that fails to parse, validate (including this server's depth, alias, token and
  introspection limits), name an operation or coerce its variables is a request error: 400 with
  `application/graphql-response+json`, but 200 with `application/json`, whose clients cannot tell
  a 4xx GraphQL answer from a proxy's page;
- an executed operation answers 200, field errors and partial data included.

Every error carries `extensions.code` and is masked by `service.http_errors`.

The endpoint is `endpoint.GraphQLHTTP`; `negotiation` picks the media type, `request` reads the
parameters, `limits` parses and validates documents within the limits, `operation` decides
whether a document can run, and `exchange` records what a request revealed.
"""

from __future__ import annotations

from service.graphql_http.endpoint import GraphQLHTTP
from service.graphql_http.exchange import GraphQLOutcome
from service.graphql_http.limits import GraphQLLimits

__all__ = ["GraphQLHTTP", "GraphQLLimits", "GraphQLOutcome"]
