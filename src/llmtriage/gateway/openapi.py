"""The OpenAPI 3.1 description the gateway serves at ``GET /openapi.json``.

It documents what ``parse.py`` accepts (the fuzz tests generate requests from it); fields the
gateway only passes through (logprobs, metadata, ...) are open-ended, as in OpenAI's API.
"""

from __future__ import annotations

from typing import Any

from llmtriage.gateway.parse import ROLES

_PART = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string"}, "text": {"type": "string"}},
}
MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": sorted(ROLES)},
        "content": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": _PART}, {"type": "null"}]
        },
        "name": {"type": "string"},
        "tool_call_id": {"type": "string"},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
    },
}
_TOOL = {
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "minLength": 1}},
        },
    },
}
CHAT_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object"},
        "tools": {"type": "array", "items": _TOOL},
        "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
        "response_format": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"type": "string"}},
        },
        "user": {"type": "string"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "n": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "seed": {"type": "integer"},
    },
}
FEEDBACK = {
    "type": "object",
    "required": ["score"],
    "properties": {
        "request_id": {"type": "string"},
        "session_id": {"type": "string"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "metric": {"type": "string"},
        "comment": {"type": "string"},
    },
}
_LIMITS = {
    "budget_usd_per_day": {"type": "number", "exclusiveMinimum": 0},
    "budget_usd_per_month": {"type": "number", "exclusiveMinimum": 0},
    "requests_per_minute": {"type": "integer", "minimum": 1},
    "tokens_per_minute": {"type": "integer", "minimum": 1},
    "models": {"type": "array", "items": {"type": "string"}},
    "tiers": {"type": "array", "items": {"type": "string"}},
}
NEW_KEY = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, **_LIMITS},
}
_ERROR = {"description": "OpenAI-style error: {error: {message, type, param, code}}"}


def _post(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {"200": {"description": "OK"}, "4XX": _ERROR, "502": _ERROR},
        }
    }


def _get(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}


def openapi(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "llmtriage gateway", "version": version},
        "paths": {
            "/v1/chat/completions": _post("OpenAI Chat Completions, routed", CHAT_REQUEST),
            "/v1/route": _post("Dry run: the routing decision", CHAT_REQUEST),
            "/v1/feedback": _post("Score a request or a session", FEEDBACK),
            "/v1/models": _get("Virtual and configured models"),
            "/healthz": _get("Liveness, log writer and circuit states"),
            "/metrics": _get("Prometheus metrics"),
            "/v1/admin/keys": _get("Client keys and their limits (admin key)")
            | _post("Create a client key, shown once (admin key)", NEW_KEY),
            "/v1/admin/keys/{name}": {
                "delete": {
                    "summary": "Revoke a stored client key (admin key)",
                    "parameters": [{"name": "name", "in": "path", "required": True}],
                    "responses": {"200": {"description": "OK"}, "4XX": _ERROR},
                }
            },
            "/v1/admin/spend": _get("Spend today, this month and in flight, per key (admin key)"),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
