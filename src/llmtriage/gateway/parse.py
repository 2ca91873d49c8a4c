"""Parse and validate a Chat Completions body once, at the edge, with errors naming the field."""

from __future__ import annotations

from typing import Any

import orjson

from llmtriage.exceptions import RequestError
from llmtriage.types import ChatRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


_MAX_DEPTH = 254


def json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc}", "body") from None
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object", "body")
    # orjson reads up to 1,024 levels but writes only 254, and the body is written again for
    # the upstream: refuse what cannot be sent. Counting brackets first keeps this off the
    # common path (a request with fewer than 254 of them cannot nest deeper).
    if raw.count(b"[") + raw.count(b"{") > _MAX_DEPTH:
        try:
            orjson.dumps(body)
        except orjson.JSONEncodeError:
            msg = f"request body nests deeper than {_MAX_DEPTH} levels"
            raise RequestError(msg, "body") from None
    return body


def _check_message(i: int, m: Any) -> None:
    if not isinstance(m, dict):
        raise RequestError(f"messages[{i}] must be an object", f"messages[{i}]")
    role = m.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise RequestError(
            f"messages[{i}].role must be one of {', '.join(sorted(ROLES))}; got {role!r}",
            f"messages[{i}].role",
        )
    content = m.get("content")
    if content is not None and not isinstance(content, str | list):
        raise RequestError(
            f"messages[{i}].content must be a string or a list of parts",
            f"messages[{i}].content",
        )
    for j, part in enumerate(content if isinstance(content, list) else ()):
        where = f"messages[{i}].content[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RequestError(f"{where} must be an object with a string type", where)
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise RequestError(f"{where}.text must be a string", f"{where}.text")
    if content is None and role in ("user", "system", "developer"):
        raise RequestError(f"messages[{i}].content is required", f"messages[{i}].content")


def _optional(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise RequestError(f"{key} must be {what}", key)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a number


def _count(body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    if value is not None and not (_is_int(value) and value >= 1):
        raise RequestError(f"{key} must be an integer of at least 1", key)


def _number(body: dict[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if not (_is_int(value) or isinstance(value, float)) or not low <= value <= high:
        raise RequestError(f"{key} must be a number from {low:g} to {high:g}", key)


def _check_tools(tools: list[Any]) -> None:
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise RequestError(f"tools[{i}] must be an object with a string type", f"tools[{i}]")
        fn = tool.get("function")
        if tool["type"] == "function" and not (
            isinstance(fn, dict) and isinstance(fn.get("name"), str) and fn["name"]
        ):
            where = f"tools[{i}].function"
            raise RequestError(f"{where} must be an object with a name", where)


def _check_sampling(body: dict[str, Any]) -> None:
    """The fields every upstream reads the same way; the rest pass through unread."""
    _count(body, "max_tokens")
    _count(body, "max_completion_tokens")
    _count(body, "n")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(x, str) for x in stop))
    ):
        raise RequestError("stop must be a string or a list of strings", "stop")
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise RequestError("seed must be an integer", "seed")
    _optional(body, "tool_choice", (str, dict), "a string or an object")


def chat_request(body: dict[str, Any]) -> ChatRequest:
    """The ChatRequest of a validated body (RequestError naming the field otherwise)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model is required and must be a non-empty string", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages is required and must be a non-empty list", "messages")
    for i, m in enumerate(messages):
        _check_message(i, m)
    tools = _optional(body, "tools", list, "a list")
    if tools:
        _check_tools(tools)
    fmt = _optional(body, "response_format", dict, "an object")
    if fmt is not None and not isinstance(fmt.get("type"), str):
        raise RequestError("response_format.type must be a string", "response_format.type")
    user = _optional(body, "user", str, "a string")
    _optional(body, "stream", bool, "a boolean")
    _optional(body, "stream_options", dict, "an object")
    _check_sampling(body)
    return ChatRequest(
        messages=messages, model=model, tools=tools, response_format=fmt, session_id=user
    )
