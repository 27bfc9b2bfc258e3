"""Stand-in nodes: one light process that serves recorded node answers on many ports.

`python -m bench.standin PLAN.json KEY.pem` listens on every port the plan names. Each port
answers a coverage question with its recorded coverage answer and any other question with its
recorded `node` header, after the plan's delay, signed with the key as a node signs (RFC 9421),
so that the coordinator cannot tell it from a node that takes that long. A GET answers 200, for
readiness checks. It stops on SIGTERM.

The plan: {"delay_ms": 100, "nodes": [{"port": 8101, "coverage": "{…}", "header": "{…}"}]}.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from auth.keys import SigningKey, load_key_file
from auth.signatures import sign_response

CONTENT_TYPE = "application/graphql-response+json; charset=utf-8"


class Signer:
    """Signature headers per body, renewed each second (a signature carries its `created`)."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.cache: dict[tuple[int, int], bytes] = {}

    def head(self, body: bytes) -> bytes:
        now = int(time.time())
        cache_key = (id(body), now)
        cached = self.cache.get(cache_key)
        if cached is None:
            if len(self.cache) > 1000:
                self.cache.clear()
            headers = sign_response(
                self.key, status=200, content_type=CONTENT_TYPE, body=body, created=now
            )
            lines = [
                "HTTP/1.1 200 OK",
                f"Content-Type: {CONTENT_TYPE}",
                f"Content-Length: {len(body)}",
                *(f"{name}: {value}" for name, value in headers.items()),
            ]
            cached = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
            self.cache[cache_key] = cached
        return cached


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def handler(coverage: bytes, header: bytes, delay: float, signer: Signer) -> Handler:
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
                if head.startswith(b"GET"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                else:
                    body = coverage if b"coverage(" in request else header
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
    signer = Signer(load_key_file(key_path))
    delay = plan["delay_ms"] / 1000
    servers = []
    for node in plan["nodes"]:
        serve = handler(node["coverage"].encode(), node["header"].encode(), delay, signer)
        servers.append(await asyncio.start_server(serve, "127.0.0.1", node["port"], backlog=256))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
