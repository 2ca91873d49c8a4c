"""The OpenAI Chat Completions API of the gateway, driven by the official openai client."""

from __future__ import annotations

import openai
import pytest
from conftest import Stack

HARD = "Prove rigorously that the square root of 2 is irrational, step by step."


def test_auto_routes_answers_and_sets_headers(stack: Stack) -> None:
    raw = stack.client.chat.completions.with_raw_response.create(
        model="triage/auto", messages=[{"role": "user", "content": "hi, thanks!"}]
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == "echo: hi, thanks!"
    h = raw.headers
    assert h["x-triage-request-id"].startswith("req_")
    assert h["x-triage-tier"] == "small" and h["x-triage-model"] == "small-1"
    assert float(h["x-triage-cost-usd"]) == pytest.approx((11 * 0.1 + 7 * 0.2) / 1e6)
    assert h["x-triage-cost-estimated"] == "false"  # from the upstream's usage
    assert float(h["x-triage-overhead-ms"]) >= 0
    sent = stack.upstream.received[-1]["json"]
    assert sent["model"] == "up-small-1"


def test_hard_prompt_goes_to_frontier(stack: Stack) -> None:
    raw = stack.client.chat.completions.with_raw_response.create(
        model="triage/auto", messages=[{"role": "user", "content": HARD}]
    )
    assert raw.headers["x-triage-tier"] == "frontier"
    assert stack.upstream.received[-1]["json"]["model"] == "up-big-1"


def test_tier_and_named_models(stack: Stack) -> None:
    raw = stack.client.chat.completions.with_raw_response.create(
        model="triage/mid", messages=[{"role": "user", "content": HARD}]
    )
    assert (raw.headers["x-triage-tier"], raw.headers["x-triage-model"]) == ("mid", "mid-1")
    raw = stack.client.chat.completions.with_raw_response.create(
        model="big-1", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-triage-model"] == "big-1"


def test_streaming_reassembles_and_ends(stack: Stack) -> None:
    text = "tell me a short story"
    stream = stack.client.chat.completions.create(
        model="triage/auto", messages=[{"role": "user", "content": text}], stream=True
    )
    parts = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(parts) == f"echo: {text}"
    assert stack.upstream.received[-1]["json"]["stream"] is True


def test_stream_usage_only_when_asked(stack: Stack) -> None:
    chunks = list(
        stack.client.chat.completions.create(
            model="small-1",
            messages=[{"role": "user", "content": "abc"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 11
    chunks = list(
        stack.client.chat.completions.create(
            model="small-1", messages=[{"role": "user", "content": "abc"}], stream=True
        )
    )
    assert all(c.usage is None for c in chunks)


def test_tools_and_response_format_pass_through(stack: Stack) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    resp = stack.client.chat.completions.create(
        model="triage/auto",
        messages=[{"role": "user", "content": "weather? [tool]"}],
        tools=tools,
        tool_choice="auto",
    )
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and resp.choices[0].finish_reason == "tool_calls"
    assert stack.upstream.received[-1]["json"]["tools"] == tools
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    stack.client.chat.completions.create(
        model="small-1",
        messages=[{"role": "user", "content": "json please"}],
        response_format=fmt,  # type: ignore[arg-type]
    )
    assert stack.upstream.received[-1]["json"]["response_format"] == fmt


def test_upstream_error_is_never_a_200(stack: Stack) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        stack.client.chat.completions.create(
            model="small-1", messages=[{"role": "user", "content": "x [fail:503]"}]
        )
    assert err.value.status_code == 502
    assert "503" in err.value.message
    with pytest.raises(openai.APIStatusError) as err:
        list(
            stack.client.chat.completions.create(
                model="small-1", messages=[{"role": "user", "content": "x [fail:500]"}], stream=True
            )
        )
    assert err.value.status_code == 502


def test_malformed_upstream_json_is_a_502(stack: Stack) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        stack.client.chat.completions.create(
            model="small-1", messages=[{"role": "user", "content": "x [malformed]"}]
        )
    assert err.value.status_code == 502 and "malformed" in err.value.message


def test_unknown_model_is_404_naming_the_field(stack: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        stack.client.chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "x"}]
        )
    body = err.value.body
    assert isinstance(body, dict) and body["param"] == "model" and "gpt-9" in body["message"]


def test_bad_input_is_400_naming_the_field(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        stack.client.chat.completions.create(
            model="triage/auto", messages=[{"role": "wizard", "content": "x"}]
        )  # type: ignore[misc,list-item]
    assert isinstance(err.value.body, dict) and err.value.body["param"] == "messages[0].role"
    with pytest.raises(openai.BadRequestError) as err:
        stack.client.chat.completions.create(model="triage/auto", messages=[])
    assert isinstance(err.value.body, dict) and err.value.body["param"] == "messages"
