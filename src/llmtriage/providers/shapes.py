"""What the gateway reads of an upstream's answer, checked where the answer arrives.

An OpenAI-compatible upstream may answer 200 with a body the gateway cannot use: an error
object, no choices, a choice that is not an object, usage as a string. Each check returns
what is wrong (or None), so the adapter raises a ``ProviderError`` (retried, then a 502)
instead of the gateway failing later on an attribute of the wrong type. Only the fields the
gateway reads are checked; everything else passes through as the upstream sent it.
"""

from __future__ import annotations

from typing import Any


def completion_problem(data: Any) -> str | None:
    """What makes ``data`` unusable as a ``chat.completion``, or None."""
    if not isinstance(data, dict):
        return "the response is not a JSON object"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return "the response has no choices"
    for choice in choices:
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            return "the response has a choice without a message object"
    return _usage_problem(data.get("usage"))


def chunk_problem(chunk: Any) -> str | None:
    """What makes ``chunk`` unusable as a ``chat.completion.chunk``, or None."""
    if not isinstance(chunk, dict):
        return "a stream chunk is not a JSON object"
    choices = chunk.get("choices")
    if choices is not None:
        if not isinstance(choices, list):
            return "a stream chunk's choices are not a list"
        for choice in choices:
            if not isinstance(choice, dict) or not isinstance(choice.get("delta", {}), dict):
                return "a stream chunk has a choice without a delta object"
    return _usage_problem(chunk.get("usage"))


def _usage_problem(usage: Any) -> str | None:
    if usage is None:
        return None
    if not isinstance(usage, dict):
        return "usage is not an object"
    for name in ("prompt_tokens", "completion_tokens"):
        n = usage.get(name)
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            return f"usage.{name} is not a token count"
    return None
