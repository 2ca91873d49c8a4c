"""Parse and validate a Chat Completions body once, at the edge, with errors naming the field."""

from __future__ import annotations

from typing import Any

import orjson

from llmtriage.exceptions import RequestError
from llmtriage.types import ChatRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc}", "body") from None
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object", "body")
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
    fmt = _optional(body, "response_format", dict, "an object")
    user = _optional(body, "user", str, "a string")
    _optional(body, "stream", bool, "a boolean")
    _optional(body, "stream_options", dict, "an object")
    _optional(body, "max_tokens", int, "an integer")
    return ChatRequest(
        messages=messages, model=model, tools=tools, response_format=fmt, session_id=user
    )
