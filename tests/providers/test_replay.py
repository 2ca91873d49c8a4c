"""The replay provider on the bundled sample: recorded answers only, never invented ones."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from llmtriage.demo import sample_path
from llmtriage.exceptions import ConfigError
from llmtriage.providers.base import Timeouts
from llmtriage.providers.replay import NO_ANSWER, ReplayBook, ReplayProvider

MODEL = "gpt-4-1106-preview"


@pytest.fixture(scope="module")
def book() -> ReplayBook:
    return ReplayBook(sample_path())


@pytest.fixture(scope="module")
def row() -> pd.Series:
    df = pd.read_parquet(sample_path())
    return df[(df.model == MODEL) & (df.response.str.len() > 40)].iloc[0]


def _ask(prompt: str) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}


def test_recorded_answer_cost_and_usage(book: ReplayBook, row: pd.Series) -> None:
    out = asyncio.run(ReplayProvider(MODEL, book).complete(_ask(row.prompt), Timeouts()))
    assert out["choices"][0]["message"]["content"] == row.response  # type: ignore[index]
    meta = out["llmtriage"]
    assert meta["cost_usd"] == pytest.approx(row.cost_usd)  # type: ignore[index]
    assert meta["usage_estimated"] is True  # the sample records no token counts
    assert out["usage"]["completion_tokens"] == round(len(row.response) / 4)  # type: ignore[index]


def test_unknown_prompt_gets_an_explicit_no_answer(book: ReplayBook) -> None:
    out = asyncio.run(ReplayProvider(MODEL, book).complete(_ask("never recorded"), Timeouts()))
    assert out["choices"][0]["message"]["content"] == NO_ANSWER.format(model=MODEL)  # type: ignore[index]
    assert out["llmtriage"]["replay_miss"] is True  # type: ignore[index]
    assert out["llmtriage"]["cost_usd"] == 0.0  # type: ignore[index]


def test_stream_carries_the_same_text_then_usage(book: ReplayBook, row: pd.Series) -> None:
    async def collect() -> list[dict[str, object]]:
        return [c async for c in ReplayProvider(MODEL, book).stream(_ask(row.prompt), Timeouts())]

    chunks = asyncio.run(collect())
    text = "".join(
        c["choices"][0]["delta"].get("content", "")  # type: ignore[index]
        for c in chunks
        if c["choices"]
    )
    assert text == row.response
    assert chunks[-1]["usage"]["completion_tokens"] > 0  # type: ignore[index]


def test_simulated_latency_is_deterministic(book: ReplayBook, row: pd.Series) -> None:
    provider = ReplayProvider(MODEL, book, latency_ms=40)

    def timed() -> float:
        t0 = time.perf_counter()
        asyncio.run(provider.complete(_ask(row.prompt), Timeouts()))
        return time.perf_counter() - t0

    a, b = timed(), timed()
    assert 0.02 <= a <= 0.5 and 0.02 <= b <= 0.5  # 40 ms x [0.5, 1.5) plus scheduling
    assert abs(a - b) < 0.05


def test_a_file_without_responses_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "no_response.parquet"
    pd.DataFrame({"prompt": ["p"], "model": ["m"], "score": [1.0]}).to_parquet(bad)
    with pytest.raises(ConfigError, match="response"):
        ReplayBook(bad)


def test_a_gateway_without_replay_models_does_not_load_pandas() -> None:
    # pandas and pyarrow are ~90 MB of RSS; only ReplayBook needs them
    code = (
        "import sys, llmtriage.gateway.app, llmtriage.providers.factory\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
