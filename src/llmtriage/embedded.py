"""The embedded default: replay tiers over the bundled RouterBench sample, no keys, no servers.

``llmtriage serve`` without ``--config`` and ``llmtriage demo`` run this. The router is the
recommended one, trained at start-up (a few seconds) on a fixed 70% of the sample's prompts;
the other 30% are the demo's workload, so the demo's quality figures are on prompts the
router never saw.
"""

from __future__ import annotations

from pathlib import Path

from llmtriage import config
from llmtriage.demo import sample_path
from llmtriage.evals import datasets
from llmtriage.evals.datasets import RoutingDataset
from llmtriage.routing.model import train
from llmtriage.routing.triage import Triage
from llmtriage.types import ChatRequest

# (model, input $/Mtok, output $/Mtok, tier): RouterBench's early-2024 list prices
MODELS = (
    ("mistralai/mistral-7b-chat", 0.2, 0.2, "small"),
    ("WizardLM/WizardLM-13B-V1.2", 0.3, 0.3, "small"),
    ("mistralai/mixtral-8x7b-chat", 0.6, 0.6, "small"),
    ("meta/code-llama-instruct-34b-chat", 0.776, 0.776, "small"),
    ("zero-one-ai/Yi-34B-Chat", 0.8, 0.8, "small"),
    ("meta/llama-2-70b-chat", 0.9, 0.9, "small"),
    ("claude-instant-v1", 0.8, 2.4, "mid"),
    ("gpt-3.5-turbo-1106", 1.0, 2.0, "mid"),
    ("claude-v1", 8.0, 24.0, "frontier"),
    ("claude-v2", 8.0, 24.0, "frontier"),
    ("gpt-4-1106-preview", 10.0, 30.0, "frontier"),
)
TIERS = ("small", "mid", "frontier")
SPLIT_SEED = 0
TEST_FRACTION = 0.3


def embedded_config(db: str | Path = "llmtriage.db", latency_ms: float = 0.0) -> config.Config:
    models = [
        {
            "name": name,
            "provider": "replay",
            "price": {"input_per_mtok": pin, "output_per_mtok": pout},
            "replay": {"latency_ms": latency_ms},
        }
        for name, pin, pout, _ in MODELS
    ]
    tiers = [{"name": t, "models": [m for m, *_, tier in MODELS if tier == t]} for t in TIERS]
    return config.parse(
        {
            "models": models,
            "tiers": tiers,
            "router": {"kind": "default", "objective": {"target_quality": 0.95}},
            "store": {"url": f"sqlite:///{Path(db).resolve()}"},
        }
    )


def sample_split() -> tuple[RoutingDataset, RoutingDataset]:
    """(train, workload): the bundled sample split by prompt, the same way every time."""
    return datasets.load(sample_path()).split(TEST_FRACTION, seed=SPLIT_SEED)


def embedded_triage(cfg: config.Config, train_set: RoutingDataset) -> Triage:
    """The recommended router trained on ``train_set`` under the config's tiers and objective.

    Replay answers cost what the dataset recorded, so the router keeps the cost model it
    learned from those recordings rather than estimating from list prices."""
    requests = [ChatRequest.from_prompt(p) for p in train_set.prompts]
    model = train("default", train_set.models, requests, train_set.scores, train_set.costs)
    return Triage.for_config(model, cfg)
