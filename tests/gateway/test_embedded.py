"""The embedded default (replay tiers over the bundled sample) over real HTTP.

The library API and the gateway must make the same decision for the same request.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pandas as pd
import pytest

from llmtriage.demo import sample_path
from llmtriage.embedded import embedded_config, embedded_triage, sample_split
from llmtriage.gateway.app import create_app
from llmtriage.gateway.server import BackgroundServer
from llmtriage.routing.triage import Triage


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Triage, object]]:
    db = tmp_path_factory.mktemp("embedded") / "llmtriage.db"
    cfg = embedded_config(db)
    train, _ = sample_split()
    triage = embedded_triage(cfg, train)
    app = create_app(cfg, triage)
    with BackgroundServer(app) as server:
        yield server.base_url, triage, app


def test_answers_are_the_recorded_ones_and_match_the_library(
    embedded: tuple[str, Triage, object],
) -> None:
    base_url, triage, app = embedded
    _, workload = sample_split()
    recorded = pd.read_parquet(sample_path()).set_index(["prompt", "model"])["response"]
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0)
    tiers = set()
    for prompt in workload.prompts[:25]:
        messages = [{"role": "user", "content": prompt}]
        raw = client.chat.completions.with_raw_response.create(
            model="triage/auto", messages=messages
        )  # type: ignore[arg-type]
        model = raw.headers["x-triage-model"]
        assert model == triage.decide(messages).model
        assert raw.parse().choices[0].message.content == recorded[(prompt, model)]
        tiers.add(raw.headers["x-triage-tier"])
    client.close()
    assert len(tiers) >= 2  # the router really routes
    gw = app.state.gateway  # type: ignore[attr-defined]
    assert gw.writer.flush(10.0)
    assert gw.store.count_requests() == 25
