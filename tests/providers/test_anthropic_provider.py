"""AnthropicProvider: its pure streaming pieces on hand-built events, then the real HTTP path
against the fake Anthropic server over loopback."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from llmtriage.exceptions import ProviderError, ProviderHTTPError, RequestError
from llmtriage.providers.anthropic import AnthropicProvider, SSEDecoder, StreamTranslator
from llmtriage.providers.base import Timeouts

sys.path.insert(0, str(Path(__file__).parents[1]))
from fakes.anthropic_upstream import FakeAnthropic, message_events, text_message, tool_use_message

# ------------------------------------------------------------------------------ streaming


def sse(*events: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(b"event: %s\ndata: %s\n\n" % (e.encode(), orjson.dumps(d)) for e, d in events)


def test_sse_decoder_handles_any_split_and_crlf() -> None:
    raw = sse(("ping", {"type": "ping"}), ("x", {"t": "é€"})).replace(b"\n", b"\r\n")
    raw += b": keep-alive comment\n\ndata: line1\ndata: line2\n\n"
    expected = [("ping", '{"type":"ping"}'), ("x", '{"t":"é€"}'), ("message", "line1\nline2")]
    for size in (1, 2, 3, 7, len(raw)):
        decoder = SSEDecoder()
        events = []
        for i in range(0, len(raw), size):
            events += decoder.feed(raw[i : i + size])
        assert events + decoder.flush() == expected, size


def test_sse_decoder_flush_returns_an_unterminated_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: message_stop\ndata: {}") == []
    assert decoder.flush() == [("message_stop", "{}")]


def run_events(
    events: list[tuple[str, dict[str, Any]]],
) -> tuple[StreamTranslator, list[dict[str, Any]]]:
    translator = StreamTranslator("claude", 123)
    chunks = [chunk for event, data in events for chunk in translator.translate(event, data)]
    return translator, chunks


START = (
    "message_start",
    {
        "type": "message_start",
        "message": {"id": "msg_s", "usage": {"input_tokens": 9, "output_tokens": 1}},
    },
)


def block_start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_start", {
        "type": "content_block_start",
        "index": index,
        "content_block": block,
    }


def delta(index: int, **d: Any) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}


def message_delta(stop: str, output_tokens: int) -> tuple[str, dict[str, Any]]:
    return "message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": stop},
        "usage": {"output_tokens": output_tokens},
    }


STOP = ("message_stop", {"type": "message_stop"})


def test_stream_text_events_become_chunks() -> None:
    translator, chunks = run_events(
        [
            START,
            ("ping", {"type": "ping"}),
            block_start(0, {"type": "text", "text": ""}),
            delta(0, type="text_delta", text="Hel"),
            delta(0, type="text_delta", text="lo"),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            message_delta("max_tokens", 6),
            STOP,
        ]
    )
    assert translator.done
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "msg_s" for c in chunks)
    assert all(c["model"] == "claude" and c["created"] == 123 for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "length"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}
    assert all("usage" not in c for c in chunks[:-1])


def test_stream_tool_use_events_become_indexed_tool_call_chunks() -> None:
    translator, chunks = run_events(
        [
            START,
            block_start(0, {"type": "text", "text": ""}),
            delta(0, type="text_delta", text="Checking."),
            block_start(1, {"type": "tool_use", "id": "toolu_a", "name": "get", "input": {}}),
            delta(1, type="input_json_delta", partial_json=""),
            delta(1, type="input_json_delta", partial_json='{"q": '),
            delta(1, type="input_json_delta", partial_json="1}"),
            block_start(2, {"type": "tool_use", "id": "toolu_b", "name": "put", "input": {}}),
            delta(2, type="input_json_delta", partial_json="{}"),
            message_delta("tool_use", 20),
            STOP,
        ]
    )
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls == [
        {
            "index": 0,
            "id": "toolu_a",
            "type": "function",
            "function": {"name": "get", "arguments": ""},
        },
        {"index": 0, "function": {"arguments": '{"q": '}},
        {"index": 0, "function": {"arguments": "1}"}},
        {
            "index": 1,
            "id": "toolu_b",
            "type": "function",
            "function": {"name": "put", "arguments": ""},
        },
        {"index": 1, "function": {"arguments": "{}"}},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.done


def test_stream_usage_prefers_message_delta_input_tokens_when_present() -> None:
    final = (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"input_tokens": 11, "output_tokens": 3, "cache_read_input_tokens": 4},
        },
    )
    _, chunks = run_events([START, final, STOP])
    assert chunks[-1]["usage"]["prompt_tokens"] == 15
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_stream_without_message_stop_is_not_done() -> None:
    translator, _ = run_events([START, delta(0, type="text_delta", text="cut")])
    assert not translator.done


@pytest.mark.parametrize(("error_type", "status"), [("overloaded_error", 529), ("api_error", 502)])
def test_stream_error_event_raises_provider_http_error(error_type: str, status: int) -> None:
    error = ("error", {"type": "error", "error": {"type": error_type, "message": "Busy now"}})
    with pytest.raises(ProviderHTTPError) as err:
        run_events([START, error])
    assert err.value.status == status
    assert err.value.provider == "anthropic" and err.value.model == "claude"
    assert error_type in err.value.body and "Busy now" in err.value.body


# ----------------------------------------------------------------------- over loopback HTTP

KEY = "sk-ant-test-SECRET-0123456789"
FAST = Timeouts(connect=2.0, total=5.0)
USER = {"role": "user", "content": "hi"}


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=KEY) as server:
        yield server


def call(
    base_url: str,
    action: Callable[[AnthropicProvider], Awaitable[Any]],
    api_key: str = KEY,
) -> Any:
    async def main() -> Any:
        async with aiohttp.ClientSession() as session:
            provider = AnthropicProvider("claude-test", "claude-up-1", base_url, api_key, session)
            return await action(provider)

    return asyncio.run(main())


def complete(fake: FakeAnthropic, body: dict[str, Any], timeouts: Timeouts = FAST) -> Any:
    return call(fake.base_url, lambda p: p.complete(body, timeouts))


def stream(fake: FakeAnthropic, body: dict[str, Any], timeouts: Timeouts = FAST) -> Any:
    async def collect(provider: AnthropicProvider) -> list[dict[str, Any]]:
        return [chunk async for chunk in provider.stream(body, timeouts)]

    return call(fake.base_url, collect)


def reassemble(chunks: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]], str | None]:
    """Content, tool calls and finish reason rebuilt from chunks, as an OpenAI client does."""
    text, calls, finish = "", [], None
    for chunk in chunks:
        choice = chunk["choices"][0]
        text += choice["delta"].get("content") or ""
        for part in choice["delta"].get("tool_calls") or []:
            if part["index"] == len(calls):
                calls.append(
                    {
                        "id": part["id"],
                        "type": "function",
                        "function": {"name": part["function"]["name"], "arguments": ""},
                    }
                )
            calls[part["index"]]["function"]["arguments"] += part["function"]["arguments"]
        finish = choice["finish_reason"] or finish
    return text, calls, finish


def test_complete_text_sends_headers_and_translated_body(fake: FakeAnthropic) -> None:
    fake.reply_text("Hello!", usage={"input_tokens": 8, "output_tokens": 2})
    out = complete(fake, {"model": "x", "messages": [{"role": "system", "content": "S"}, USER]})
    assert out["object"] == "chat.completion" and out["model"] == "claude-test"
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Hello!"}
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}
    sent = fake.last
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json["model"] == "claude-up-1" and sent.json["system"] == "S"
    assert "stream" not in sent.json


def test_base_url_with_version_path_is_tolerated(fake: FakeAnthropic) -> None:
    fake.reply_text("fine")
    out = call(fake.base_url + "/v1/", lambda p: p.complete({"messages": [USER]}, FAST))
    assert out["choices"][0]["message"]["content"] == "fine"
    assert fake.last.path == "/v1/messages"


def test_tool_use_round_trip(fake: FakeAnthropic) -> None:
    fake.reply_tool_use("get_weather", {"city": "Paris"}, tool_id="toolu_42")
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    body: dict[str, Any] = {"model": "x", "messages": [USER], "tools": tools}
    first = complete(fake, body)["choices"][0]
    assert first["finish_reason"] == "tool_calls"
    [tool_call] = first["message"]["tool_calls"]
    assert orjson.loads(tool_call["function"]["arguments"]) == {"city": "Paris"}

    fake.reply_text("Sunny in Paris.")
    body["messages"] = [
        USER,
        first["message"],
        {"role": "tool", "tool_call_id": tool_call["id"], "content": "sunny"},
    ]
    second = complete(fake, body)
    assert second["choices"][0]["message"]["content"] == "Sunny in Paris."
    sent = fake.last.json["messages"]
    assert sent[1]["content"] == [
        {"type": "tool_use", "id": "toolu_42", "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert sent[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_42", "content": "sunny"}
    ]
    assert fake.last.json["tools"][0]["name"] == "get_weather"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (429, "rate_limit_error"), (529, "overloaded_error")],
)
@pytest.mark.parametrize("streaming", [False, True])
def test_error_status_becomes_provider_http_error(
    fake: FakeAnthropic, status: int, kind: str, streaming: bool
) -> None:
    fake.reply_error(status, kind, "nope")
    with pytest.raises(ProviderHTTPError) as err:
        (stream if streaming else complete)(fake, {"model": "x", "messages": [USER]})
    assert err.value.status == status
    assert (err.value.provider, err.value.model) == ("anthropic", "claude-test")
    assert orjson.loads(err.value.body)["error"] == {"type": kind, "message": "nope"}


def test_stall_becomes_provider_error_within_the_timeout(fake: FakeAnthropic) -> None:
    fake.reply_stall(10.0)
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        complete(fake, {"model": "x", "messages": [USER]}, Timeouts(connect=1.0, total=0.3))
    assert time.monotonic() - started < 2.0
    assert not isinstance(err.value, ProviderHTTPError)
    assert "claude-test" in str(err.value) and "timed out" in str(err.value)


def test_stream_reassembles_to_the_non_stream_answer(fake: FakeAnthropic) -> None:
    answer = tool_use_message("lookup", {"q": "llm routing", "n": [1, 2]}, text="Let me check.")
    answer["usage"] = {"input_tokens": 30, "output_tokens": 17}
    fake.reply_message(answer).reply_message(answer)
    body = {"model": "x", "messages": [USER]}
    whole = complete(fake, body)
    chunks = stream(fake, body)
    assert fake.last.json["stream"] is True
    text, calls, finish = reassemble(chunks)
    message = whole["choices"][0]["message"]
    assert len(chunks) > 6  # really streamed in pieces
    assert (text, calls, finish) == (message["content"], message["tool_calls"], "tool_calls")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert (
        chunks[-1]["usage"]
        == whole["usage"]
        == {
            "prompt_tokens": 30,
            "completion_tokens": 17,
            "total_tokens": 47,
        }
    )
    assert {c["model"] for c in chunks} == {"claude-test"}


def test_stream_plain_text(fake: FakeAnthropic) -> None:
    fake.reply_text("A fairly long answer, streamed in small pieces.")
    text, calls, finish = reassemble(stream(fake, {"model": "x", "messages": [USER]}))
    assert (text, calls, finish) == ("A fairly long answer, streamed in small pieces.", [], "stop")


def test_mid_stream_disconnect_is_a_provider_error(fake: FakeAnthropic) -> None:
    fake.reply_disconnect(text_message("this will be cut off somewhere"), after_events=5)
    received: list[dict[str, Any]] = []

    async def consume(provider: AnthropicProvider) -> None:
        async for chunk in provider.stream({"model": "x", "messages": [USER]}, FAST):
            received.append(chunk)

    with pytest.raises(ProviderError) as err:
        call(fake.base_url, consume)
    assert not isinstance(err.value, ProviderHTTPError)
    assert received  # some chunks arrived before the cut
    assert "claude-test" in str(err.value)


def test_stream_closed_cleanly_before_message_stop_is_a_provider_error(
    fake: FakeAnthropic,
) -> None:
    fake.reply_events(message_events(text_message("truncated"))[:-2])  # no message_delta/stop
    with pytest.raises(ProviderError, match="before message_stop"):
        stream(fake, {"model": "x", "messages": [USER]})


def test_non_stream_disconnect_is_a_provider_error(fake: FakeAnthropic) -> None:
    fake.reply_disconnect()
    with pytest.raises(ProviderError) as err:
        complete(fake, {"model": "x", "messages": [USER]})
    assert not isinstance(err.value, ProviderHTTPError)


def test_error_event_mid_stream_raises_with_overloaded_status(fake: FakeAnthropic) -> None:
    fake.reply_stream_error("overloaded_error", "Overloaded")
    with pytest.raises(ProviderHTTPError) as err:
        stream(fake, {"model": "x", "messages": [USER]})
    assert err.value.status == 529 and "Overloaded" in err.value.body


def test_consumer_can_stop_a_stream_early(fake: FakeAnthropic) -> None:
    fake.reply_text("one two three four five six").reply_text("next")

    async def first_then_complete(provider: AnthropicProvider) -> Any:
        chunks = provider.stream({"model": "x", "messages": [USER]}, FAST)
        first = await anext(chunks)
        await chunks.aclose()  # type: ignore[attr-defined]
        return first, await provider.complete({"model": "x", "messages": [USER]}, FAST)

    first, after = call(fake.base_url, first_then_complete)
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert after["choices"][0]["message"]["content"] == "next"


def test_bad_request_is_refused_before_any_http_call(fake: FakeAnthropic) -> None:
    with pytest.raises(RequestError):
        complete(fake, {"model": "x", "messages": [USER], "n": 3})
    assert fake.requests == []


def test_api_key_never_appears_in_error_messages(fake: FakeAnthropic) -> None:
    failures: list[BaseException] = []
    fake.reply_error(400, "invalid_request_error", f"bad key {KEY}")  # an upstream echoing it
    fake.reply_stall(10.0)
    for timeouts in (FAST, Timeouts(connect=1.0, total=0.3)):
        with pytest.raises(ProviderError) as err:
            complete(fake, {"model": "x", "messages": [USER]}, timeouts)
        failures.append(err.value)
    with pytest.raises(ProviderHTTPError) as wrong:  # the fake checks the key
        call(fake.base_url, lambda p: p.complete({"messages": [USER]}, FAST), api_key="sk-wrong")
    assert wrong.value.status == 401
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(ProviderError) as refused:
        call(f"http://127.0.0.1:{closed_port}", lambda p: p.complete({"messages": [USER]}, FAST))
    failures.append(refused.value)
    assert "connection failed" in str(refused.value)
    assert all(fake_request.headers["x-api-key"] == KEY for fake_request in fake.requests[:2])
    for exc in failures:
        text = f"{exc} {exc!r} {getattr(exc, 'body', '')} {exc.__cause__!r}"
        assert KEY not in text and "claude-test" in text
