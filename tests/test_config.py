"""Tests for llmtriage.config: the YAML of DESIGN.md §3.5, cross-checks, key-path errors."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmtriage import config
from llmtriage.exceptions import ConfigError

HASH = "sha256:" + "ab" * 32

VALID_YAML = f"""
models:
  - name: llama-3.1-8b
    provider: openai
    base_url: http://localhost:8000/v1
    api_key_env: LOCAL_KEY
    price: {{input_per_mtok: 0.05, output_per_mtok: 0.08}}
  - name: gpt-4o-mini
    provider: openai
    base_url: https://api.openai.com/v1
    api_key_env: OPENAI_API_KEY
    price: {{input_per_mtok: 0.15, output_per_mtok: 0.60}}
  - name: gpt-4o
    provider: openai
    base_url: https://api.openai.com/v1
    api_key_env: OPENAI_API_KEY
    upstream_model: gpt-4o-2024-08-06
    price: {{input_per_mtok: 2.50, output_per_mtok: 10.00}}
tiers:
  - {{name: small, models: [llama-3.1-8b], max_latency_ms: 3000,
     max_cost_per_request_usd: 0.002}}
  - {{name: mid, models: [gpt-4o-mini]}}
  - {{name: frontier, models: [gpt-4o]}}
router: {{kind: knn, artifact: router.npz, objective: {{target_quality: 0.95}}}}
store: {{url: "sqlite:///llmtriage.db"}}
auth: {{keys: [{{name: team-a, hash: "{HASH}", budget_usd_per_day: 50}}]}}
"""


@pytest.fixture
def data() -> dict[str, Any]:
    """The valid config as a mapping, for tests that break one key at a time."""
    return copy.deepcopy(yaml.safe_load(VALID_YAML))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_loads(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path / "llmtriage.yaml", VALID_YAML))
    assert [m.name for m in cfg.models] == ["llama-3.1-8b", "gpt-4o-mini", "gpt-4o"]
    gpt4o = cfg.model("gpt-4o")
    assert gpt4o.provider == "openai"
    assert gpt4o.upstream_model == "gpt-4o-2024-08-06"
    assert gpt4o.api_key_env == "OPENAI_API_KEY"
    assert (gpt4o.price.input_per_mtok, gpt4o.price.output_per_mtok) == (2.5, 10.0)
    assert [t.name for t in cfg.tiers] == ["small", "mid", "frontier"]
    assert cfg.tiers[0].max_latency_ms == 3000
    assert cfg.tiers[0].max_cost_per_request_usd == 0.002
    assert cfg.tier_of() == {"llama-3.1-8b": "small", "gpt-4o-mini": "mid", "gpt-4o": "frontier"}
    assert cfg.router.kind == "knn"
    assert cfg.router.objective.target_quality == 0.95
    assert cfg.store.url == "sqlite:///llmtriage.db"
    assert cfg.auth.keys[0].name == "team-a"
    assert cfg.auth.keys[0].budget_usd_per_day == 50
    with pytest.raises(KeyError):
        cfg.model("gpt-5")


def test_minimal_config_gets_defaults(data: dict[str, Any]) -> None:
    minimal = {"models": data["models"], "tiers": data["tiers"]}
    cfg = config.parse(minimal, Path("/base"))
    assert cfg.router.kind == "default"
    assert cfg.router.artifact is None
    assert cfg.store.url == "sqlite:///llmtriage.db"
    assert cfg.auth.keys == []
    assert cfg.models[0].upstream_model is None


def test_relative_artifact_is_resolved_against_the_config_folder(tmp_path: Path) -> None:
    text = VALID_YAML.replace("artifact: router.npz", "artifact: models/router.npz")
    cfg = config.load(write(tmp_path / "conf" / "llmtriage.yaml", text))
    assert cfg.router.artifact == str(tmp_path / "conf" / "models" / "router.npz")


def test_absolute_artifact_is_kept(tmp_path: Path, data: dict[str, Any]) -> None:
    target = tmp_path / "elsewhere" / "r.npz"
    data["router"]["artifact"] = str(target)
    cfg = config.parse(data, tmp_path / "conf")
    assert cfg.router.artifact == str(target)


def test_parse_resolves_against_base_dir(data: dict[str, Any]) -> None:
    cfg = config.parse(data, Path("/srv/triage"))
    assert cfg.router.artifact == str(Path("/srv/triage/router.npz"))


# ---------------------------------------------------------------- errors by key path

Mutation = Callable[[dict[str, Any]], None]


def _two_objectives(d: dict[str, Any]) -> None:
    d["router"]["objective"] = {"target_quality": 0.9, "knob": 0.5}


CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown top-level", lambda d: d.update(gatewy={"port": 1}), "gatewy", "Extra inputs"),
    (
        "unknown nested",
        lambda d: d["models"][0].update(pricee=1),
        "models[0].pricee",
        "Extra inputs",
    ),
    (
        "unknown deep",
        lambda d: d["models"][2]["price"].update(cached_per_mtok=1),
        "models[2].price.cached_per_mtok",
        "Extra inputs",
    ),
    ("models not a list", lambda d: d.update(models="gpt-4o"), "models", "valid list"),
    (
        "price not a number",
        lambda d: d["models"][1]["price"].update(input_per_mtok="cheap"),
        "models[1].price.input_per_mtok",
        "valid number",
    ),
    (
        "latency not a number",
        lambda d: d["tiers"][0].update(max_latency_ms="fast"),
        "tiers[0].max_latency_ms",
        "valid number",
    ),
    (
        "unknown provider",
        lambda d: d["models"][0].update(provider="azure"),
        "models[0].provider",
        "'replay'",
    ),
    (
        "tier names unknown model",
        lambda d: d["tiers"][1]["models"].append("claude-9"),
        "tiers[1].models[1]",
        "unknown model 'claude-9'",
    ),
    (
        "model in two tiers",
        lambda d: d["tiers"][2]["models"].append("gpt-4o-mini"),
        "tiers[2].models[1]",
        "already in tier 'mid'",
    ),
    (
        "duplicate model name",
        lambda d: d["models"].append(copy.deepcopy(d["models"][0])),
        "models[3].name",
        "duplicate model name 'llama-3.1-8b'",
    ),
    ("two objectives", _two_objectives, "router.objective", "only one"),
    (
        "target_share unknown tier",
        lambda d: d["router"].update(objective={"target_share": {"huge": 0.2}}),
        "router.objective.target_share",
        "unknown tier 'huge'",
    ),
    (
        "bad key hash",
        lambda d: d["auth"]["keys"][0].update(hash="md5:abc"),
        "auth.keys[0].hash",
        "sha256",
    ),
    (
        "uppercase key hash",
        lambda d: d["auth"]["keys"][0].update(hash=HASH.upper().replace("SHA", "sha")),
        "auth.keys[0].hash",
        "pattern",
    ),
    (
        "openai model without base_url",
        lambda d: d["models"][1].pop("base_url"),
        "models[1].base_url",
        "needs base_url",
    ),
    (
        "replay settings on an openai model",
        lambda d: d["models"][0].update(replay={"latency_ms": 5}),
        "models[0].replay",
        "only for provider 'replay'",
    ),
    (
        "model in no tier",
        lambda d: d["tiers"][1].update(models=["gpt-4o-mini"]) or d["tiers"].pop(0),
        "models[0]",
        "'llama-3.1-8b' is in no tier",
    ),
    ("no tiers", lambda d: d.update(tiers=[]), "tiers", "at least 1"),
    ("models missing", lambda d: d.pop("models"), "models", "required"),
]


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_error_names_key_path(
    data: dict[str, Any], mutate: Mutation, path: str, fragment: str
) -> None:
    mutate(data)
    with pytest.raises(ConfigError) as info:
        config.parse(data, Path("/base"))
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")
    assert fragment in str(info.value)


def test_negative_price_is_rejected(data: dict[str, Any]) -> None:
    data["models"][0]["price"]["output_per_mtok"] = -1
    with pytest.raises(ConfigError, match=r"^models\[0\]\.price\.output_per_mtok: .*0"):
        config.parse(data)


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="mapping"):
        config.parse(["models", "tiers"])


# ---------------------------------------------------------------- files


def test_unknown_key_in_file_names_the_path(tmp_path: Path) -> None:
    text = VALID_YAML.replace("upstream_model:", "upstream_modle:")
    with pytest.raises(ConfigError, match=r"^models\[2\]\.upstream_modle: "):
        config.load(write(tmp_path / "c.yaml", text))


def test_invalid_yaml_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.yaml", "models: [a, b\ntiers: x\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert "broken.yaml is not valid YAML" in message
    assert "line 2" in message
    assert "\n" not in message


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00models: []")
    with pytest.raises(ConfigError, match=r"binary\.yaml"):
        config.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config .*nope\.yaml: No such file"):
        config.load(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text", ["", "- models\n- tiers\n", "just a string\n"])
def test_file_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        config.load(write(tmp_path / "c.yaml", text))
