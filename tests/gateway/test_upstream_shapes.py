"""200 answers the gateway cannot use, bodies it cannot forward, and errors nobody foresaw:
each is a clear error status or an error event, one log row, and the gateway serves on."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Iterator

import httpx2 as httpx
import openai
import pytest
from conftest import Stack

from fakes.openai_upstream import BAD_SHAPES
from llmtriage.providers.base import JSON, Provider, Timeouts

NOT_STREAMED = [k for k, v in BAD_SHAPES.items() if callable(v)]
STREAMED = [k for k, v in BAD_SHAPES.items() if isinstance(v, tuple)]


def _row(stack: Stack, request_id: str) -> sqlite3.Row:
    deadline = time.time() + 10
    while True:
        con = sqlite3.connect(stack.db)
        con.row_factory = sqlite3.Row
        row = con.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        con.close()
        if row is not None or time.time() > deadline:
            assert row is not None, f"no log row for {request_id}"
            return row
        time.sleep(0.05)


def _still_serving(stack: Stack) -> None:
    resp = stack.client.chat.completions.create(
        model="small-1", messages=[{"role": "user", "content": "ok?"}]
    )
    assert resp.choices[0].message.content == "echo: ok?"


@pytest.mark.parametrize("shape", NOT_STREAMED)
def test_an_unusable_answer_is_a_502_and_logged(stack: Stack, shape: str) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        stack.client.chat.completions.create(
            model="small-1", messages=[{"role": "user", "content": f"x [shape:{shape}]"}]
        )
    assert err.value.status_code == 502, err.value.message
    row = _row(stack, err.value.response.headers["x-triage-request-id"])
    assert row["status"] == 502 and row["error"]
    _still_serving(stack)


@pytest.mark.parametrize("shape", STREAMED)
def test_an_unusable_stream_ends_in_an_error_and_is_logged(stack: Stack, shape: str) -> None:
    body = {
        "model": "small-1",
        "stream": True,
        "messages": [{"role": "user", "content": f"tell me [shape:{shape}]"}],
    }
    with httpx.stream("POST", stack.base_url + "/v1/chat/completions", json=body) as resp:
        text = resp.read().decode()
        request_id = resp.headers["x-triage-request-id"]
    if resp.status_code == 200:  # content had started: the stream ends with an error event
        assert '"error"' in text and "[DONE]" not in text, text
    else:  # before any content: a clean error status
        assert resp.status_code == 502, text
    row = _row(stack, request_id)
    assert row["status"] == 502 and row["error"]
    _still_serving(stack)


def test_a_body_nested_too_deep_to_forward_is_a_400(stack: Stack) -> None:
    deep = "[" * 300 + "]" * 300  # valid JSON, read fine, but orjson writes 254 levels at most
    raw = '{"model": "small-1", "messages": [{"role": "user", "content": "x"}], "metadata": '
    resp = httpx.post(
        stack.base_url + "/v1/chat/completions",
        content=(raw + deep + "}").encode(),
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "body"
    assert _row(stack, resp.headers["x-triage-request-id"])["status"] == 400


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", "hot"),
        ("temperature", -5),
        ("top_p", 2),
        ("max_tokens", 0),
        ("max_tokens", True),
        ("max_completion_tokens", "a"),
        ("n", -1),
        ("stop", 5),
        ("seed", "s"),
        ("tool_choice", 5),
        ("tools", ["x"]),
        ("tools", [{"type": "function"}]),
        ("response_format", {"json": True}),
    ],
)
def test_a_field_every_upstream_reads_is_checked(stack: Stack, field: str, value: object) -> None:
    body = {"model": "small-1", "messages": [{"role": "user", "content": "x"}], field: value}
    resp = httpx.post(stack.base_url + "/v1/chat/completions", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"].startswith(field)


class _Broken(Provider):
    """An adapter with a bug: what the gateway does with an error nobody foresaw."""

    async def complete(self, body: JSON, timeouts: Timeouts) -> JSON:
        raise RuntimeError("a bug")

    async def stream(self, body: JSON, timeouts: Timeouts) -> AsyncIterator[JSON]:
        raise RuntimeError("a bug")
        yield {}


@pytest.mark.parametrize("stream", [False, True])
def test_an_unexpected_error_is_a_500_logged_once(stack: Stack, stream: bool) -> None:
    gw = stack.app.gateway
    for name in ("small-1", "mid-1", "big-1"):  # so no fallback answers
        gw.providers[name] = _Broken(name, name)
    body = {"model": "small-1", "stream": stream, "messages": [{"role": "user", "content": "x"}]}
    resp = httpx.post(stack.base_url + "/v1/chat/completions", json=body)
    assert resp.status_code == 500 and resp.json()["error"]["message"].startswith("internal")
    row = _row(stack, resp.headers["x-triage-request-id"])
    assert row["status"] == 500 and row["requested_model"] == "small-1"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) / 1024


def test_a_chunked_body_over_the_limit_is_refused_without_holding_it(stack: Stack) -> None:
    # the server runs in this process: its RSS is ours, sampled while the body goes out
    limit = stack.app.gateway.config.gateway.max_body_bytes
    start, peak = _rss_mb(), 0.0

    def body() -> Iterator[bytes]:  # no content-length: transfer-encoding chunked
        nonlocal peak
        for i in range(100 * limit // 65536):  # 400 MB
            if i % 64 == 0:
                peak = max(peak, _rss_mb())
            yield b" " * 65536

    resp = httpx.post(stack.base_url + "/v1/chat/completions", content=body(), timeout=60)
    assert resp.status_code == 413 and resp.json()["error"]["param"] == "body"
    assert peak - start < 100, (start, peak)  # held the limit at most, not the 400 MB
    _still_serving(stack)
