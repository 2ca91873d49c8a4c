"""Build the configured providers: an explicit registry of provider kinds."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import aiohttp

from llmtriage.config import Config, ModelConfig
from llmtriage.exceptions import ConfigError
from llmtriage.providers.base import Provider
from llmtriage.providers.openai import OpenAIProvider
from llmtriage.providers.replay import ReplayBook, ReplayProvider


def default_replay_data() -> Path:
    from importlib import resources

    return Path(str(resources.files("llmtriage.data").joinpath("routerbench_sample.parquet")))


def _secret(model: ModelConfig, index: int) -> str | None:
    if model.api_key_env is None:
        return None
    value = os.environ.get(model.api_key_env)
    if not value:
        raise ConfigError(
            f"models[{index}].api_key_env",
            f"environment variable {model.api_key_env} is not set",
        )
    return value


class ProviderFactory:
    """Creates providers; replay books are loaded once per data file and shared."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.books: dict[str, ReplayBook] = {}
        self.kinds: dict[str, Callable[[ModelConfig, int], Provider]] = {
            "openai": self._openai,
            "anthropic": self._anthropic,
            "replay": self._replay,
        }

    def _openai(self, m: ModelConfig, i: int) -> Provider:
        assert m.base_url is not None  # checked by the config
        return OpenAIProvider(
            m.name, m.upstream_model or m.name, m.base_url, _secret(m, i), self.session
        )

    def _anthropic(self, m: ModelConfig, i: int) -> Provider:
        from llmtriage.providers.anthropic import AnthropicProvider

        assert m.base_url is not None
        key = _secret(m, i) or ""  # a local Anthropic-compatible server may take none
        return AnthropicProvider(m.name, m.upstream_model or m.name, m.base_url, key, self.session)

    def _replay(self, m: ModelConfig, i: int) -> Provider:
        data = str(m.replay.data if m.replay and m.replay.data else default_replay_data())
        if data not in self.books:
            self.books[data] = ReplayBook(data)
        book = self.books[data]
        if m.name not in book.models:
            raise ConfigError(f"models[{i}].name", f"{m.name!r} has no recordings in {data}")
        return ReplayProvider(m.name, book, m.replay.latency_ms if m.replay else 0.0)

    def build(self, config: Config) -> dict[str, Provider]:
        return {m.name: self.kinds[m.provider](m, i) for i, m in enumerate(config.models)}
