"""OpenAI ⇄ Anthropic translation (``anthropic_translate``) on hand-built dicts."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmtriage.exceptions import RequestError
from llmtriage.providers.anthropic_translate import to_anthropic_request, to_openai_response

USER = {"role": "user", "content": "hi"}


def req(**body: Any) -> dict[str, Any]:
    body.setdefault("messages", [USER])
    return to_anthropic_request(body, "claude-up")


# ----------------------------------------------------------------------------- requests


def test_minimal_request_sets_model_default_max_tokens_and_text_block() -> None:
    assert req() == {
        "model": "claude-up",
        "max_tokens": 4096,  # Anthropic requires it; OpenAI does not
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }


def test_system_and_developer_messages_are_hoisted_and_joined() -> None:
    out = req(
        messages=[
            {"role": "system", "content": "Be brief."},
            USER,
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
        ]
    )
    assert out["system"] == "Be brief.\n\nUse French."
    assert [m["role"] for m in out["messages"]] == ["user"]


def test_consecutive_same_role_messages_are_merged() -> None:
    out = req(
        messages=[
            USER,
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "ok"},
        ]
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    ]


def test_image_parts_become_base64_or_url_sources() -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    content = req(messages=[{"role": "user", "content": parts}])["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "what is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_malformed_data_url_is_a_request_error() -> None:
    parts = [{"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}]
    with pytest.raises(RequestError) as err:
        req(messages=[{"role": "user", "content": parts}])
    assert err.value.field == "messages[0].content[0]"


def test_unsupported_part_and_role_are_request_errors() -> None:
    with pytest.raises(RequestError) as err:
        req(messages=[{"role": "user", "content": [{"type": "input_audio"}]}])
    assert err.value.field == "messages[0].content[0]"
    with pytest.raises(RequestError) as err:
        req(messages=[USER, {"role": "function", "name": "f", "content": "x"}])
    assert err.value.field == "messages[1].role"


def test_tool_round_trip_messages() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get", "arguments": '{"q": 1}'},
    }
    call2 = {"id": "call_2", "type": "function", "function": {"name": "put", "arguments": ""}}
    out = req(
        messages=[
            USER,
            {"role": "assistant", "content": None, "tool_calls": [call, call2]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "ok"}]},
            {"role": "user", "content": "thanks"},
        ]
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "call_1", "name": "get", "input": {"q": 1}},
            {"type": "tool_use", "id": "call_2", "name": "put", "input": {}},
        ],
    }
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "42"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "ok"},
            {"type": "text", "text": "thanks"},
        ],
    }
    assert len(out["messages"]) == 3


def test_assistant_text_precedes_its_tool_calls() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    out = req(
        messages=[USER, {"role": "assistant", "content": "Let me look.", "tool_calls": [call]}]
    )
    assert [b["type"] for b in out["messages"][1]["content"]] == ["text", "tool_use"]


def test_invalid_tool_arguments_name_the_field() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
    with pytest.raises(RequestError) as err:
        req(messages=[USER, {"role": "assistant", "tool_calls": [call]}])
    assert err.value.field == "messages[1].tool_calls[0].function.arguments"


def test_tools_and_tool_choice() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "a", "description": "A", "parameters": {"type": "object"}},
        },
        {"type": "function", "function": {"name": "b"}},
    ]
    out = req(tools=tools, tool_choice="required")
    assert out["tools"] == [
        {"name": "a", "description": "A", "input_schema": {"type": "object"}},
        {"name": "b", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert out["tool_choice"] == {"type": "any"}
    assert req(tools=tools, tool_choice="auto")["tool_choice"] == {"type": "auto"}
    assert req(tools=tools, tool_choice="none")["tool_choice"] == {"type": "none"}
    named = {"type": "function", "function": {"name": "b"}}
    assert req(tools=tools, tool_choice=named)["tool_choice"] == {"type": "tool", "name": "b"}
    assert "tool_choice" not in req(tools=tools)
    assert "tools" not in req(tool_choice="auto")


def test_parallel_tool_calls_false_disables_parallel_use() -> None:
    tools = [{"type": "function", "function": {"name": "a"}}]
    out = req(tools=tools, parallel_tool_calls=False)
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    out = req(tools=tools, tool_choice="required", parallel_tool_calls=False)
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_malformed_tools_and_sampling_are_request_errors() -> None:
    for tools in ([{"type": "web_search"}], ["not a tool"]):
        with pytest.raises(RequestError) as err:
            req(tools=tools)
        assert err.value.field == "tools[0]"
    tools = [{"type": "function", "function": {"name": "a"}}]
    with pytest.raises(RequestError) as err:
        req(tools=tools, tool_choice={"type": "function", "function": "a"})
    assert err.value.field == "tool_choice"
    with pytest.raises(RequestError) as err:
        req(temperature="hot")
    assert err.value.field == "temperature"


def test_max_tokens_prefers_max_completion_tokens_and_validates() -> None:
    assert req(max_tokens=50)["max_tokens"] == 50
    assert req(max_tokens=50, max_completion_tokens=70)["max_tokens"] == 70
    with pytest.raises(RequestError) as err:
        req(max_tokens=0)
    assert err.value.field == "max_tokens"


def test_sampling_parameters_and_stop_sequences() -> None:
    out = req(temperature=0.3, top_p=0.9, stop="END")
    assert (out["temperature"], out["top_p"], out["stop_sequences"]) == (0.3, 0.9, ["END"])
    assert req(stop=["a", "b"])["stop_sequences"] == ["a", "b"]
    assert req(temperature=1.7)["temperature"] == 1.0  # OpenAI allows up to 2, Anthropic 1
    assert "stop_sequences" not in req(stop=None)


def test_unknown_parameters_are_ignored_and_stream_is_not_copied() -> None:
    out = req(frequency_penalty=0.5, logit_bias={"1": 2}, seed=3, stream=True, user="u")
    assert set(out) == {"model", "max_tokens", "messages"}


def test_n_above_one_is_refused() -> None:
    assert "n" not in req(n=1)
    with pytest.raises(RequestError) as err:
        req(n=2)
    assert err.value.field == "n"


def test_response_format_becomes_a_system_note() -> None:
    out = req(
        messages=[{"role": "system", "content": "Sys."}, USER],
        response_format={"type": "json_object"},
    )
    assert out["system"].startswith("Sys.\n\n")
    assert "JSON object" in out["system"]
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    rf = {"type": "json_schema", "json_schema": {"name": "X", "schema": schema}}
    note = req(response_format=rf)["system"]
    assert orjson.loads(note[note.index("{") :]) == schema
    assert "system" not in req(response_format={"type": "text"})


def test_empty_conversation_is_refused() -> None:
    with pytest.raises(RequestError):
        req(messages=[])
    with pytest.raises(RequestError):
        req(messages=[{"role": "system", "content": "only a system prompt"}])


# ---------------------------------------------------------------------------- responses


def anthropic_message(
    content: list[dict[str, Any]], stop: str = "end_turn", **usage: int
) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": stop,
        "usage": usage or {"input_tokens": 10, "output_tokens": 5},
    }


def test_text_answer_translates_to_chat_completion() -> None:
    msg = anthropic_message([{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}])
    assert to_openai_response(msg, "claude", 1700000000) == {
        "id": "msg_1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "claude",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def test_tool_use_answer_has_tool_calls_and_null_content() -> None:
    msg = anthropic_message(
        [{"type": "tool_use", "id": "toolu_1", "name": "get", "input": {"city": "Paris"}}],
        "tool_use",
    )
    choice = to_openai_response(msg, "claude", 1)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_1" and call["type"] == "function"
    assert call["function"]["name"] == "get"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
def test_stop_reason_mapping(stop: str, finish: str) -> None:
    msg = anthropic_message([{"type": "text", "text": "x"}], stop)
    assert to_openai_response(msg, "m", 0)["choices"][0]["finish_reason"] == finish


def test_usage_counts_cache_tokens_as_prompt_tokens() -> None:
    msg = anthropic_message(
        [{"type": "text", "text": "x"}],
        input_tokens=10,
        output_tokens=4,
        cache_read_input_tokens=100,
        cache_creation_input_tokens=20,
    )
    assert to_openai_response(msg, "m", 0)["usage"] == {
        "prompt_tokens": 130,
        "completion_tokens": 4,
        "total_tokens": 134,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_thinking_blocks_are_dropped() -> None:
    msg = anthropic_message(
        [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "A"}]
    )
    assert to_openai_response(msg, "m", 0)["choices"][0]["message"]["content"] == "A"
