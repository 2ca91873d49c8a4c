"""The gateway's own dispatch cost: a completions request that fails validation (400), sent
straight into the ASGI app, with no network, upstream, router or log writer in the way.

    .venv/bin/python bench/dispatch.py [--calls 5000] [--passes 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from llmtriage.embedded import embedded_config
from llmtriage.gateway.app import create_app

BODY = b'{"model": "triage/auto", "messages": "not a list"}'
SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/v1/chat/completions",
    "raw_path": b"/v1/chat/completions",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))],
    "client": ("127.0.0.1", 1),
    "server": ("127.0.0.1", 2),
}


async def run(app: Any, calls: int, passes: int) -> dict[str, object]:
    statuses: set[int] = set()

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    for _ in range(2000):  # warm-up
        await app(dict(SCOPE), receive, send)
    per_call = []
    for _ in range(passes):
        t0 = time.perf_counter()
        for _ in range(calls):
            await app(dict(SCOPE), receive, send)
        per_call.append((time.perf_counter() - t0) / calls * 1e6)
    return {
        "us_per_request_min": round(min(per_call), 1),
        "us_per_request_median": round(statistics.median(per_call), 1),
        "statuses": sorted(statuses),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--passes", type=int, default=7)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(embedded_config(Path(tmp) / "requests.db"))
        print(json.dumps(asyncio.run(run(app, args.calls, args.passes)), indent=2))


if __name__ == "__main__":
    main()
