"""The in-process library API: a request in, a routing decision out.

``Triage`` is what the gateway calls on its hot path and what `llmtriage route` prints, so the
library, the CLI and the gateway make the same decision for the same request.

    triage = Triage.from_config(config.load("llmtriage.yaml"))
    decision = triage.decide([{"role": "user", "content": "Prove that sqrt(2) is irrational"}])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from llmtriage.config import Config, Objective
from llmtriage.exceptions import ConfigError, RoutingError
from llmtriage.routing import artifact, registry
from llmtriage.routing.calibrate import calibrate
from llmtriage.routing.cost import CostModel
from llmtriage.routing.model import RoutingModel, zero_data
from llmtriage.routing.policy import Policy
from llmtriage.types import ChatRequest, Message, ModelEstimate, RoutingDecision


def _config_costs(cfg: Config, models: tuple[str, ...]) -> CostModel:
    ms = [cfg.model(m) for m in models]
    return CostModel.from_prices(
        [m.price.input_per_mtok for m in ms],
        [m.price.output_per_mtok for m in ms],
        [m.expected_output_tokens for m in ms],
    )


_EXCLUDED_REASON = {True: "", False: "estimated cost above the tier's limit"}


class Triage:
    """A routing model, its models' tiers and the calibrated policy."""

    def __init__(self, model: RoutingModel, tiers: tuple[str, ...], policy: Policy) -> None:
        self.model = model
        self.tiers = tiers  # tier name per model, aligned with model.models
        self.policy = policy
        self._tier_names = tuple(dict.fromkeys(tiers))

    @classmethod
    def from_config(cls, cfg: Config) -> Triage:
        """Models and tiers from the config; the router from its artifact, or the zero-data
        rules router when none is configured."""
        # cheapest tier first, then the tier's order of models
        ordered = tuple(m for t in cfg.tiers for m in t.models)
        registry.spec(cfg.router.kind, "router.kind")  # an unknown name is a config error
        if cfg.router.artifact:
            model = artifact.load(cfg.router.artifact, expected_models=list(ordered))
            if model.name != cfg.router.kind:
                raise ConfigError(
                    "router.kind",
                    f"is {cfg.router.kind!r} but the artifact holds a {model.name!r} router",
                )
            model.cost = _config_costs(cfg, model.models)
        else:
            model = zero_data(ordered, _config_costs(cfg, ordered))
        return cls.for_config(model, cfg)

    @classmethod
    def for_config(cls, model: RoutingModel, cfg: Config) -> Triage:
        """A routing model (trained for the config's models) under the config's tiers,
        thresholds and objective."""
        tier_of = cfg.tier_of()
        tiers = tuple(tier_of[m] for m in model.models)
        max_cost = {t.name: t.max_cost_per_request_usd or np.inf for t in cfg.tiers}
        policy = _policy(model, np.asarray(tiers), cfg.router.objective)
        policy = Policy(
            policy.knob,
            policy.cost_ref,
            policy.threshold,
            policy.bias,
            np.array([max_cost[t] for t in tiers], dtype=float),
        )
        return cls(model, tiers, policy)

    @classmethod
    def from_artifact(cls, path: str | Path, objective: Objective | None = None) -> Triage:
        """A trained artifact on its own: every model is its own tier, costs as trained."""
        model = artifact.load(path)
        return cls(
            model, model.models, _policy(model, np.asarray(model.models), objective or Objective())
        )

    def decide(
        self,
        request: ChatRequest | list[Message],
        tier: str | None = None,
        models: frozenset[str] | None = None,
    ) -> RoutingDecision:
        """Choose a model for one request; ``tier`` restricts the choice to that tier and
        ``models`` to those models (a key's permissions)."""
        req = request if isinstance(request, ChatRequest) else ChatRequest(messages=request)
        barred = self._barred(tier, models)
        allowed = None if barred is None else [not b for b in barred]
        if allowed is not None and not any(allowed):
            raise RoutingError("no model is allowed for this request")
        quality, cost = self.model.estimate([req])
        q, c = quality[0].tolist(), cost[0].tolist()
        i, eligible = self.policy.choose_one(q, c, allowed)
        return self._decision(i, q, c, eligible, barred)

    def _barred(self, tier: str | None, models: frozenset[str] | None) -> list[str] | None:
        """Per model, why the request may not use it ("" if it may): outside the requested
        tier, or not among the key's models. None when nothing is restricted."""
        if tier is None and models is None:
            return None
        if tier is not None and tier not in self._tier_names:
            raise RoutingError(f"unknown tier {tier!r}; tiers: {', '.join(self._tier_names)}")
        barred = []
        for m, t in zip(self.model.models, self.tiers, strict=True):
            if tier is not None and t != tier:
                barred.append(f"not in the requested tier {tier!r}")
            elif models is not None and m not in models:
                barred.append("not among this key's models")
            else:
                barred.append("")
        return barred

    def _decision(
        self, i: int, q: list[float], c: list[float], ok: list[bool], barred: list[str] | None
    ) -> RoutingDecision:
        models = self.model.models
        reasons = [_EXCLUDED_REASON[e] for e in ok]
        usable = ok
        if barred is not None:
            reasons = [b or r for b, r in zip(barred, reasons, strict=True)]
            usable = [e and not b for e, b in zip(ok, barred, strict=True)]
        estimates = tuple(map(ModelEstimate, models, self.tiers, q, c, usable, reasons))
        if not any(usable):
            reason = (
                f"no model is eligible (estimated costs exceed the tier limits); "
                f"fell back to the cheapest allowed, {models[i]} at ${c[i]:.2g}"
            )
        else:
            best = max((j for j, u in enumerate(usable) if u), key=q.__getitem__)
            reason = self._reason(i, best, q, c)
            # by cost, among the models the request may use
            excluded = [m for j, m in enumerate(models) if not ok[j] and not (barred and barred[j])]
            if excluded:
                reason += f"; excluded by tier cost limits: {', '.join(excluded)}"
        return RoutingDecision(models[i], self.tiers[i], estimates, reason, self.model.name)

    def _reason(self, i: int, best: int, q: list[float], c: list[float]) -> str:
        models = self.model.models
        if i == best:
            return f"{models[i]} has the best expected quality ({q[i]:.2f}) at ${c[i]:.2g}"
        rule = (
            f"the cheapest model within {100 * self.policy.threshold:.0f}% of the best estimate"
            if self.policy.threshold is not None
            else f"the best quality-for-cost trade at knob {self.policy.knob:.3g}"
        )
        return (
            f"{models[i]} is {rule}: expected quality {q[i]:.2f} vs {q[best]:.2f} for "
            f"{models[best]}, at ${c[i]:.2g} instead of ${c[best]:.2g}"
        )


def _policy(model: RoutingModel, tiers: np.ndarray, objective: Objective) -> Policy:
    """Calibrated knob when the artifact holds calibration data; else the quality threshold."""
    if model.calibration is None:
        return Policy(threshold=objective.target_quality or 0.95)
    s = calibrate(model.calibration, objective, tiers)
    return Policy(knob=s.knob, cost_ref=s.cost_ref, bias=s.bias)
