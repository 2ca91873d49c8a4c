"""Pure translation between OpenAI Chat Completions and the Anthropic Messages API.

No I/O here: ``to_anthropic_request`` maps an OpenAI request body to a Messages API body,
``to_openai_response`` maps a Messages API answer back to a ``chat.completion`` dict,
``SSEDecoder`` splits a server-sent-event byte stream into ``(event, data)`` pairs, and
``StreamTranslator`` turns Anthropic stream events into ``chat.completion.chunk`` dicts.

Best-effort parts (Anthropic has no equivalent): ``response_format`` becomes an instruction
appended to the system prompt; ``temperature`` is clamped to Anthropic's range [0, 1].
Unknown OpenAI parameters are ignored; ``n`` other than 1 is refused.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmtriage.exceptions import RequestError

JSON = dict[str, Any]

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI does not

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}

_TOOL_CHOICES = {"auto": "auto", "none": "none", "required": "any"}


def finish_reason(stop_reason: str | None) -> str:
    """The OpenAI ``finish_reason`` for an Anthropic ``stop_reason`` (unknown → ``stop``)."""
    return FINISH_REASONS.get(stop_reason or "", "stop")


# ---------------------------------------------------------------- request: OpenAI → Anthropic


def to_anthropic_request(body: JSON, upstream_model: str) -> JSON:
    """Translate an OpenAI chat-completions body into an Anthropic Messages API body.

    Raises ``RequestError`` (naming the field) for input Anthropic cannot represent.
    """
    if body.get("n") not in (None, 1):
        raise RequestError("n other than 1 is not supported by Anthropic models", field="n")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list", field="messages")
    system, turns = _split_messages(messages)
    if not turns:
        raise RequestError("at least one user or assistant message is required", "messages")
    note = _response_format_note(body.get("response_format"))
    if note:
        system.append(note)
    out: JSON = {"model": upstream_model, "max_tokens": _max_tokens(body), "messages": turns}
    if system:
        out["system"] = "\n\n".join(system)
    _copy_sampling(body, out)
    tools = body.get("tools")
    if tools:
        out["tools"] = [_tool(tool, i) for i, tool in enumerate(tools)]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice:
            out["tool_choice"] = choice
    return out


def _split_messages(messages: list[Any]) -> tuple[list[str], list[JSON]]:
    """System/developer texts, and user/assistant turns with same-role neighbours merged."""
    system: list[str] = []
    turns: list[JSON] = []
    for i, msg in enumerate(messages):
        field = f"messages[{i}]"
        role = msg.get("role") if isinstance(msg, dict) else None
        if role in ("system", "developer"):
            text = _plain_text(msg.get("content"), f"{field}.content")
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _user_blocks(msg.get("content"), f"{field}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(msg, field)
        elif role == "tool":
            blocks = [_tool_result(msg, field)]
        else:
            raise RequestError(f"unsupported message role {role!r}", field=f"{field}.role")
        target = "assistant" if role == "assistant" else "user"
        if not blocks:
            continue
        if turns and turns[-1]["role"] == target:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": target, "content": blocks})
    return system, turns


def _plain_text(content: Any, field: str) -> str:
    """Text of a content that may only hold text (system prompts, tool results)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise RequestError("only text parts are allowed here", field=f"{field}[{j}]")
            texts.append(str(part.get("text") or ""))
        return "\n".join(t for t in texts if t)
    raise RequestError("content must be a string or a list of parts", field=field)


def _user_blocks(content: Any, field: str) -> list[JSON]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise RequestError("content must be a string or a list of parts", field=field)
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block(part.get("image_url"), f"{field}[{j}]"))
        elif kind == "file":
            blocks.append(_document_block(part.get("file"), f"{field}[{j}]"))
        else:
            raise RequestError(f"unsupported content part {kind!r}", field=f"{field}[{j}]")
    return blocks


def _data_url(url: str, field: str) -> tuple[str, str]:
    """``(media_type, base64_data)`` of a ``data:<type>;base64,<data>`` URL."""
    header, sep, data = url.partition(",")
    media_type, _, encoding = header.removeprefix("data:").partition(";")
    if not sep or encoding != "base64" or not media_type:
        raise RequestError("data URLs must be data:<media type>;base64,<data>", field=field)
    return media_type, data


def _image_block(image: Any, field: str) -> JSON:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise RequestError("image_url.url must be a non-empty string", field=field)
    if url.startswith("data:"):
        media_type, data = _data_url(url, field)
        source = {"type": "base64", "media_type": media_type, "data": data}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _document_block(file: Any, field: str) -> JSON:
    data_url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise RequestError("only inline file_data (data: URL) files are supported", field)
    media_type, data = _data_url(data_url, field)
    source = {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "document", "source": source}


def _assistant_blocks(msg: JSON, field: str) -> list[JSON]:
    text = _plain_text(msg.get("content"), f"{field}.content")
    blocks: list[JSON] = [{"type": "text", "text": text}] if text else []
    for k, call in enumerate(msg.get("tool_calls") or []):
        where = f"{field}.tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name") or not call.get("id"):
            raise RequestError("tool calls need an id and a function name", field=where)
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": fn["name"],
                "input": _tool_arguments(fn.get("arguments"), f"{where}.function.arguments"),
            }
        )
    return blocks


def _tool_arguments(arguments: Any, field: str) -> JSON:
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        parsed = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise RequestError(f"arguments are not valid JSON: {exc}", field=field) from exc
    if not isinstance(parsed, dict):
        raise RequestError("arguments must be a JSON object", field=field)
    return parsed


def _tool_result(msg: JSON, field: str) -> JSON:
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise RequestError("tool messages need a tool_call_id", field=f"{field}.tool_call_id")
    block: JSON = {"type": "tool_result", "tool_use_id": call_id}
    text = _plain_text(msg.get("content"), f"{field}.content")
    if text:
        block["content"] = text
    return block


def _response_format_note(response_format: Any) -> str | None:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        return "Respond only with a single valid JSON object, with no text before or after it."
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = orjson.dumps(spec.get("schema", {}), option=orjson.OPT_SORT_KEYS).decode()
        return (
            "Respond only with a single valid JSON value, with no text before or after it, "
            f"that conforms to this JSON schema:\n{schema}"
        )
    return None


def _max_tokens(body: JSON) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError(f"{key} must be a positive integer", field=key)
        return value
    return DEFAULT_MAX_TOKENS


def _copy_sampling(body: JSON, out: JSON) -> None:
    temperature = body.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise RequestError("temperature must be a number", field="temperature")
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = [str(s) for s in stop]


def _tool(tool: Any, i: int) -> JSON:
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(fn, dict) or tool.get("type") != "function" or not fn.get("name"):
        raise RequestError("only function tools with a name are supported", f"tools[{i}]")
    out: JSON = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = fn["description"]
    out["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
    return out


def _tool_choice(choice: Any, parallel: Any) -> JSON | None:
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise RequestError(f"unknown tool_choice {choice!r}", field="tool_choice")
        out: JSON = {"type": _TOOL_CHOICES[choice]}
    elif isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not name:
            raise RequestError("tool_choice.function.name is required", field="tool_choice")
        out = {"type": "tool", "name": name}
    elif parallel is False:
        out = {"type": "auto"}
    else:
        return None
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


# -------------------------------------------------------------- response: Anthropic → OpenAI


def to_openai_usage(usage: JSON) -> JSON:
    """OpenAI usage from Anthropic usage; cache reads and writes count as prompt tokens."""
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cached
    prompt += int(usage.get("cache_creation_input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    out: JSON = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def to_openai_response(message: JSON, model: str, created: int) -> JSON:
    """Translate an Anthropic Messages API answer into an OpenAI ``chat.completion`` dict."""
    texts: list[str] = []
    calls: list[JSON] = []
    for block in message.get("content") or []:
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    reply: JSON = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        reply["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": reply,
        "logprobs": None,
        "finish_reason": finish_reason(message.get("stop_reason")),
    }
    return {
        "id": message.get("id") or "",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": to_openai_usage(message.get("usage") or {}),
    }
