"""Stand-in nodes: one light process that serves recorded node answers on many ports.

`python -m bench.standin PLAN.json KEY.pem` listens on every port the plan names. Each port
answers a coverage table question (a POST, or a GET with the question in its query string)
with its recorded table, a coverage summary question with its recorded summary, a question for
both (a stocktake's) with its recorded answer to both, and any other question with its recorded
`node` header, after the plan's delay, signed with the key as a node
signs (RFC 9421, signed ahead of time: see `Signer`), so that the coordinator cannot tell it
from a node that takes that long. A GET without a query answers 200, for readiness checks. It
stops on SIGTERM.

The plan: {"delay_ms": 100,
           "nodes": [{"port": 8101, "coverage": "{…}", "summary": "{…}", "stocktake": "{…}",
                      "header": "{…}"}]}.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from auth.keys import SigningKey, load_key_file
from auth.signatures import sign_response

CONTENT_TYPE = "application/graphql-response+json; charset=utf-8"


class Signer:
    """Each body's response head, signed ahead of time and signed again every `RENEW_SECONDS`
    (a signature carries its `created`, and a coordinator refuses one older than 300 s).

    One process stands in for many nodes, each of which would sign on its own machine: signing
    on the request path would make the last of fifty simultaneous answers wait for the other
    forty-nine signatures, a delay no real deployment has, counted against the coordinator."""

    RENEW_SECONDS = 30

    def __init__(self, key: SigningKey, bodies: list[bytes]) -> None:
        self.key = key
        self.bodies = bodies
        self.heads: dict[int, bytes] = {}
        self.sign_all()

    def sign_all(self) -> None:
        now = int(time.time())
        self.heads = {id(body): self._signed_head(body, now) for body in self.bodies}

    async def renew(self) -> None:
        while True:
            await asyncio.sleep(self.RENEW_SECONDS)
            self.sign_all()

    def head(self, body: bytes) -> bytes:
        return self.heads[id(body)]

    def _signed_head(self, body: bytes, created: int) -> bytes:
        headers = sign_response(
            self.key, status=200, content_type=CONTENT_TYPE, body=body, created=created
        )
        lines = [
            "HTTP/1.1 200 OK",
            f"Content-Type: {CONTENT_TYPE}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Answers:
    """One stand-in node's recorded answers."""

    coverage: bytes
    summary: bytes
    stocktake: bytes
    header: bytes

    def to(self, question: bytes) -> bytes:
        """The answer to `question` (a POST body, or a GET's URL-encoded request line)."""
        sums = b"coverageSummary" in question
        cells = b"coverageTable" in question
        if sums and cells:
            return self.stocktake
        if sums:
            return self.summary
        return self.coverage if cells else self.header


def handler(answers: Answers, delay: float, signer: Signer) -> Handler:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                request = await reader.readexactly(length) if length else b""
                request_line = head.split(b"\r\n", 1)[0]
                if head.startswith(b"GET") and b"?" not in request_line:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                else:
                    # A question comes as a POST body or, URL-encoded, in a GET's query string.
                    body = answers.to(request or request_line)
                    await asyncio.sleep(delay)
                    writer.write(signer.head(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    return serve


async def main(plan_path: Path, key_path: Path) -> None:
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    answers = [
        Answers(*(node[name].encode() for name in ("coverage", "summary", "stocktake", "header")))
        for node in plan["nodes"]
    ]
    bodies = [body for a in answers for body in (a.coverage, a.summary, a.stocktake, a.header)]
    signer = Signer(load_key_file(key_path), bodies)
    renewing = asyncio.create_task(signer.renew())
    delay = plan["delay_ms"] / 1000
    servers = []
    for node, node_answers in zip(plan["nodes"], answers, strict=True):
        serve = handler(node_answers, delay, signer)
        servers.append(await asyncio.start_server(serve, "127.0.0.1", node["port"], backlog=256))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    renewing.cancel()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
