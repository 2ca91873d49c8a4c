"""Replay: answer from recorded model outputs in a tidy dataset, never inventing one.

The prompt is the last user message; the answer is the response the dataset recorded for
(prompt, model), with its recorded cost and token counts (estimated from text length, and
marked so, where the dataset has none). Latency is simulated deterministically from a hash
of (prompt, model). A prompt with no recording gets an explicit "no recorded answer" reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmtriage.exceptions import ConfigError
from llmtriage.providers.base import JSON, Provider, Timeouts
from llmtriage.types import last_user_text

CHARS_PER_TOKEN = 4.0
NO_ANSWER = "[llmtriage replay] no recorded answer for this prompt from {model}"


@dataclass(frozen=True, slots=True)
class Recording:
    response: str
    cost_usd: float | None
    prompt_tokens: int
    completion_tokens: int
    estimated: bool


class ReplayBook:
    """All recordings of one dataset, keyed by (prompt text, model)."""

    def __init__(self, path: str | Path) -> None:
        # pandas (and pyarrow under it) is ~90 MB of RSS: loaded only by a gateway that has
        # replay models (tests/providers/test_replay.py holds the others to not loading it)
        import pandas as pd

        try:
            df = (
                pd.read_parquet(path)
                if str(path).endswith(".parquet")
                else pd.read_json(path, lines=True)
            )
        except (OSError, ValueError) as exc:
            raise ConfigError("models[].replay.data", f"cannot read {path}: {exc}") from None
        missing = {"prompt", "model", "response"} - set(df.columns)
        if missing:
            raise ConfigError("models[].replay.data", f"{path} lacks column(s) {sorted(missing)}")
        self.models = frozenset(df["model"].astype(str))
        self._book = {
            (p, str(m)): self._recording(p, r, row)
            for p, m, r, row in zip(
                df["prompt"], df["model"], df["response"], df.to_dict("records"), strict=True
            )
            if isinstance(r, str)
        }

    @staticmethod
    def _recording(prompt: str, response: str, row: dict[Any, Any]) -> Recording:
        tin, tout, cost = row.get("input_tokens"), row.get("output_tokens"), row.get("cost_usd")
        if isinstance(tin, int | float) and isinstance(tout, int | float):
            tokens, estimated = (int(tin), int(tout)), False
        else:
            est_in = round(len(prompt) / CHARS_PER_TOKEN)
            tokens, estimated = (est_in, max(1, round(len(response) / CHARS_PER_TOKEN))), True
        return Recording(
            response, float(cost) if isinstance(cost, int | float) else None, *tokens, estimated
        )

    def get(self, prompt: str, model: str) -> Recording | None:
        return self._book.get((prompt, model))


class ReplayProvider(Provider):
    def __init__(self, name: str, book: ReplayBook, latency_ms: float = 0.0) -> None:
        super().__init__(name, name)
        self.book = book
        self.latency_ms = latency_ms

    async def _wait(self, prompt: str) -> None:
        if self.latency_ms <= 0:
            return
        digest = hashlib.blake2b(f"{self.name}\0{prompt}".encode(), digest_size=8).digest()
        frac = int.from_bytes(digest, "big") / 2**64
        await asyncio.sleep(self.latency_ms * (0.5 + frac) / 1000)

    def _answer(self, body: JSON) -> tuple[str, Recording | None]:
        prompt = last_user_text(body.get("messages") or [])
        return prompt, self.book.get(prompt, self.name)

    def _meta(self, rec: Recording | None) -> tuple[JSON, JSON]:
        if rec is None:
            usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            return usage, {"cost_usd": 0.0, "usage_estimated": False, "replay_miss": True}
        usage = {
            "prompt_tokens": rec.prompt_tokens,
            "completion_tokens": rec.completion_tokens,
            "total_tokens": rec.prompt_tokens + rec.completion_tokens,
        }
        return usage, {"cost_usd": rec.cost_usd, "usage_estimated": rec.estimated}

    async def complete(self, body: JSON, timeouts: Timeouts) -> JSON:
        prompt, rec = self._answer(body)
        await self._wait(prompt)
        usage, meta = self._meta(rec)
        text = rec.response if rec else NO_ANSWER.format(model=self.name)
        return {
            "id": "chatcmpl-replay-" + hashlib.blake2b(prompt.encode(), digest_size=8).hexdigest(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
            "llmtriage": meta,
        }

    async def stream(self, body: JSON, timeouts: Timeouts) -> AsyncIterator[JSON]:
        full = await self.complete(body, timeouts)
        text = full["choices"][0]["message"]["content"]
        base = {k: full[k] for k in ("id", "created", "model")} | {
            "object": "chat.completion.chunk"
        }
        pieces = [text[i : i + 16] for i in range(0, len(text), 16)] or [""]
        yield base | {
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ]
        }
        for piece in pieces:
            yield base | {
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]
            }
        yield base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield base | {"choices": [], "usage": full["usage"], "llmtriage": full["llmtriage"]}
