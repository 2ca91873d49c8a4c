"""The YAML configuration (DESIGN.md §3.5) as pydantic models.

Loading has two phases: parse (types, unknown keys are errors) and resolve (cross-references:
tiers name configured models, each model in at most one tier, paths relative to the file).
Every problem becomes a ``ConfigError`` naming the key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmtriage.exceptions import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class ReplayConfig(_Strict):
    """The replay provider: recorded answers from a tidy dataset (default: the bundled sample)."""

    data: str | None = None
    latency_ms: float = Field(default=0.0, ge=0)  # mean simulated latency, deterministic


class ModelConfig(_Strict):
    name: str = Field(min_length=1)
    provider: Literal["openai", "anthropic", "replay"]
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    upstream_model: str | None = None
    price: Price
    # Expected completion length, used for the cost estimate before the call.
    expected_output_tokens: int = Field(default=256, ge=1)
    replay: ReplayConfig | None = None

    def check(self, path: str) -> None:
        """The fields a provider needs; ConfigError naming the field under ``path``."""
        if self.provider in ("openai", "anthropic") and not self.base_url:
            raise ConfigError(f"{path}.base_url", f"provider {self.provider!r} needs base_url")
        if self.provider != "replay" and self.replay is not None:
            raise ConfigError(f"{path}.replay", "replay settings are only for provider 'replay'")


class TierConfig(_Strict):
    name: str = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    max_latency_ms: float | None = Field(default=None, gt=0)
    max_cost_per_request_usd: float | None = Field(default=None, gt=0)
    fallback: bool = True  # on failure, try the tier's other models
    escalate: bool = True  # then the next tier's models


class Objective(_Strict):
    """Exactly one way to set the router's cost/quality knob."""

    target_quality: float | None = Field(default=None, gt=0, le=1.5)
    max_cost_per_request_usd: float | None = Field(default=None, gt=0)
    target_share: dict[str, float] | None = None
    knob: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Objective:
        chosen = [k for k, v in self.model_dump().items() if v is not None]
        if len(chosen) > 1:
            raise ValueError(
                f"set only one of target_quality, max_cost_per_request_usd, "
                f"target_share, knob (got {', '.join(chosen)})"
            )
        return self


class RouterConfig(_Strict):
    kind: str = "default"
    artifact: str | None = None
    objective: Objective = Objective()


class StoreConfig(_Strict):
    url: str = "sqlite:///llmtriage.db"
    prompt_storage: Literal["none", "hash", "full"] = "hash"
    # where records wait while the store is down; default: next to a SQLite file, else ./
    spool_path: str | None = None


HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"


class KeyLimits(_Strict):
    """What one client key may spend and use; None: no limit."""

    budget_usd_per_day: float | None = Field(default=None, gt=0)  # UTC days
    budget_usd_per_month: float | None = Field(default=None, gt=0)  # UTC calendar months
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    models: list[str] | None = None  # the models this key may reach (by name), or all
    tiers: list[str] | None = None  # the tiers this key may reach, or all


class KeyConfig(KeyLimits):
    name: str = Field(min_length=1)
    hash: str = Field(pattern=HASH_PATTERN)


class AuthConfig(_Strict):
    keys: list[KeyConfig] = []
    # the admin key (management endpoints only; it cannot make completions)
    admin_key_hash: str | None = Field(default=None, pattern=HASH_PATTERN)
    # how often a replica re-reads keys created or revoked in the store
    refresh_s: float = Field(default=5.0, gt=0)


class RetryConfig(_Strict):
    """Retries of one model on 429/5xx/timeouts before falling back to the next."""

    attempts: int = Field(default=2, ge=1)  # per model, the first call included
    backoff_s: float = Field(default=0.1, ge=0)  # base of the jittered exponential backoff
    max_backoff_s: float = Field(default=2.0, ge=0)  # a longer Retry-After moves on instead


class BreakerConfig(_Strict):
    """Per-model circuit breaker: opens after ``failures`` within ``window_s``."""

    failures: int = Field(default=5, ge=1)
    window_s: float = Field(default=30.0, gt=0)
    cooldown_s: float = Field(default=15.0, gt=0)  # open this long, then one half-open probe


class GatewayConfig(_Strict):
    max_body_bytes: int = Field(default=4 * 2**20, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    first_token_timeout_s: float | None = Field(default=None, gt=0)  # None: the total applies
    default_timeout_s: float = Field(default=600.0, gt=0)  # when the tier sets no max_latency_ms
    # a stream's longest silence (between chunks, or before the first byte) once it is open
    stream_idle_timeout_s: float = Field(default=60.0, gt=0)
    retries: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    # output tokens reserved against a budget when the request sets no max_tokens
    reserve_output_tokens: int = Field(default=4096, ge=1)
    # on SIGTERM, how long in-flight requests may take before they are cancelled (and
    # logged as such); below Kubernetes' default 30 s grace period, so the log is flushed
    shutdown_timeout_s: float = Field(default=25.0, gt=0)


class Config(_Strict):
    models: list[ModelConfig] = Field(min_length=1)
    tiers: list[TierConfig] = Field(min_length=1)
    router: RouterConfig = RouterConfig()
    store: StoreConfig = StoreConfig()
    auth: AuthConfig = AuthConfig()
    gateway: GatewayConfig = GatewayConfig()

    def model(self, name: str) -> ModelConfig:
        """The configured model called ``name`` (KeyError if none)."""
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    def tier_of(self) -> dict[str, str]:
        """Map model name -> tier name."""
        return {m: t.name for t in self.tiers for m in t.models}


def _resolve(cfg: Config, base_dir: Path) -> Config:
    names = [m.name for m in cfg.models]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ConfigError(f"models[{i}].name", f"duplicate model name {name!r}")
        cfg.models[i].check(f"models[{i}]")
    seen: dict[str, str] = {}
    for ti, tier in enumerate(cfg.tiers):
        for mi, model in enumerate(tier.models):
            path = f"tiers[{ti}].models[{mi}]"
            if model not in names:
                raise ConfigError(path, f"unknown model {model!r}; configured: {', '.join(names)}")
            if model in seen:
                raise ConfigError(path, f"model {model!r} is already in tier {seen[model]!r}")
            seen[model] = tier.name
    for i, name in enumerate(names):
        if name not in seen:  # its timeout and place in the escalation order come from a tier
            raise ConfigError(f"models[{i}]", f"model {name!r} is in no tier; add it to one")
    _check_keys(cfg, names, {t.name for t in cfg.tiers})
    share = cfg.router.objective.target_share
    tier_names = {t.name for t in cfg.tiers}
    for tier_name in share or {}:
        if tier_name not in tier_names:
            raise ConfigError("router.objective.target_share", f"unknown tier {tier_name!r}")
    artifact = cfg.router.artifact
    if artifact is not None and not Path(artifact).is_absolute():
        router = cfg.router.model_copy(update={"artifact": str(base_dir / artifact)})
        cfg = cfg.model_copy(update={"router": router})
    models = [_resolve_replay(m, base_dir) for m in cfg.models]
    return cfg.model_copy(update={"models": models})


def _check_keys(cfg: Config, models: list[str], tiers: set[str]) -> None:
    seen: set[str] = set()
    for i, key in enumerate(cfg.auth.keys):
        if key.name in seen:
            raise ConfigError(f"auth.keys[{i}].name", f"duplicate key name {key.name!r}")
        seen.add(key.name)
        for j, m in enumerate(key.models or ()):
            if m not in models:
                raise ConfigError(f"auth.keys[{i}].models[{j}]", f"unknown model {m!r}")
        for j, t in enumerate(key.tiers or ()):
            if t not in tiers:
                raise ConfigError(f"auth.keys[{i}].tiers[{j}]", f"unknown tier {t!r}")


def _resolve_replay(model: ModelConfig, base_dir: Path) -> ModelConfig:
    if model.replay is None or model.replay.data is None or Path(model.replay.data).is_absolute():
        return model
    replay = model.replay.model_copy(update={"data": str(base_dir / model.replay.data)})
    return model.model_copy(update={"replay": replay})


def parse(data: Any, base_dir: Path | None = None) -> Config:
    """Validate a config mapping; raise ConfigError naming the first bad key path."""
    if not isinstance(data, dict):
        raise ConfigError("", "the config must be a mapping of top-level keys")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"])
        raise ConfigError(path.replace(".[", "["), err["msg"]) from None
    return _resolve(cfg, base_dir or Path.cwd())


def load(path: str | Path) -> Config:
    """Read and validate a YAML config file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("", f"cannot read config {p}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"cannot read config {p}: not UTF-8 text ({exc.reason})") from None
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{p} is not valid YAML: {_yaml_problem(exc)}") from None
    return parse(data, p.parent)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where it is."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())
