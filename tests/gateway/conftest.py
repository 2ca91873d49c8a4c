"""A gateway over real loopback HTTP in front of a fake OpenAI-compatible upstream."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes.openai_upstream import FakeOpenAI
from llmtriage import config
from llmtriage.gateway.app import create_app
from llmtriage.gateway.server import BackgroundServer


def gateway_config(upstream: str, db: Path, **extra: Any) -> config.Config:
    models = [
        {
            "name": name,
            "provider": "openai",
            "base_url": upstream,
            "upstream_model": f"up-{name}",
            "price": {"input_per_mtok": pin, "output_per_mtok": pout},
        }
        for name, pin, pout in (("small-1", 0.1, 0.2), ("mid-1", 1.0, 2.0), ("big-1", 10.0, 30.0))
    ]
    data = {
        "models": models,
        "tiers": [
            {"name": "small", "models": ["small-1"]},
            {"name": "mid", "models": ["mid-1"]},
            {"name": "frontier", "models": ["big-1"]},
        ],
        "store": {"url": f"sqlite:///{db}"},
        **extra,
    }
    return config.parse(data, db.parent)


@dataclass
class Stack:
    upstream: FakeOpenAI
    base_url: str
    client: openai.OpenAI
    db: Path
    app: Any


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with FakeOpenAI() as upstream:
        cfg = gateway_config(upstream.base_url, tmp_path / "log.db")
        app = create_app(cfg)
        with BackgroundServer(app) as server:
            client = openai.OpenAI(
                base_url=server.base_url + "/v1", api_key="unused", max_retries=0, timeout=10
            )
            yield Stack(upstream, server.base_url, client, tmp_path / "log.db", app)
            client.close()
