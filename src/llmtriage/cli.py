"""`llmtriage` command line (DESIGN.md §3.2). ``main(argv) -> exit code``.

Exit 0 on success, 2 on bad usage, config or data, with a one-line message naming the problem.
Heavy imports happen inside the command that needs them, so `llmtriage --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from llmtriage.exceptions import ConfigError, DataError, RoutingError

if TYPE_CHECKING:
    from llmtriage.config import Config, KeyLimits
    from llmtriage.evals.datasets import RoutingDataset
    from llmtriage.store.base import Store


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise SystemExit(f"llmtriage: error: {message}")


def _cmd_routers(args: argparse.Namespace) -> int:
    from llmtriage.routing.registry import ROUTERS

    width = max(map(len, ROUTERS))
    for name, spec in ROUTERS.items():
        print(f"{name:<{width}}  {spec.summary}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from llmtriage.evals import datasets, report, runner

    prices = _prices(args.config)
    train, test = datasets.load(args.train, prices), datasets.load(args.test, prices)
    test = _match_test(train, test, args.train, args.test)
    routers = list(dict.fromkeys(args.router or ["default"]))
    for name in routers:
        _check_router(name)
    ev = runner.evaluate(
        train, test, routers, n_boot=args.bootstrap, seed=args.seed, progress=not args.quiet
    )
    paths = report.write(ev, Path(args.out))
    print(_table(ev))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _match_test(
    train: RoutingDataset, test: RoutingDataset, train_path: str, test_path: str
) -> RoutingDataset:
    """TEST with TRAIN's model order; a DataError (not a traceback) if the two do not pair."""
    import dataclasses

    if set(train.models) != set(test.models):
        raise DataError(
            f"{test_path}: models {sorted(test.models)} differ from those of {train_path} "
            f"{sorted(train.models)}; expected the same models in both"
        )
    overlap = set(train.prompt_ids) & set(test.prompt_ids)
    if overlap:
        raise DataError(
            f"{test_path}: {len(overlap)} prompt_id(s) are also in {train_path} "
            f"(e.g. {min(overlap)!r}); expected a split by prompt"
        )
    # each file orders its models by its own mean cost, which may differ between splits
    idx = [test.models.index(m) for m in train.models]
    return dataclasses.replace(
        test, models=train.models, scores=test.scores[:, idx], costs=test.costs[:, idx]
    )


def _check_router(name: str) -> None:
    from llmtriage.routing.registry import ROUTERS

    if name not in ROUTERS:
        raise ConfigError("--router", f"unknown router {name!r}; known: {', '.join(ROUTERS)}")


def _table(ev: object) -> str:
    from llmtriage.evals.runner import Evaluation

    assert isinstance(ev, Evaluation)
    rows = [f"{'router':<34} {'cost@95%':>9} {'cost@100%':>10} {'q@10%':>7} {'q@30%':>7}"]
    for r in ev.results:
        m = r.metrics

        def pct(k: str, m: dict[str, dict[str, float]] = m) -> str:
            v = m.get(k, {}).get("value")
            return "-" if v is None or math.isnan(v) else f"{100 * v:.1f}%"

        def num(k: str, m: dict[str, dict[str, float]] = m) -> str:
            v = m.get(k, {}).get("value")
            return "-" if v is None or math.isnan(v) else f"{v:.3f}"

        rows.append(
            f"{r.name[:34]:<34} {pct('cost_to_95'):>9} {pct('cost_to_100'):>10} "
            f"{num('quality_at_10'):>7} {num('quality_at_30'):>7}"
        )
    return "\n".join(rows)


def _prices(config_path: str | None) -> dict[str, tuple[float, float]] | None:
    """Model -> (input, output) USD per 1M tokens from a config: the cost of a dataset that
    records tokens but no cost_usd (DESIGN.md §3.3)."""
    if config_path is None:
        return None
    from llmtriage import config

    models = config.load(config_path).models
    return {m.name: (m.price.input_per_mtok, m.price.output_per_mtok) for m in models}


def _cmd_train(args: argparse.Namespace) -> int:
    from llmtriage.evals import datasets
    from llmtriage.routing import artifact
    from llmtriage.routing.model import train
    from llmtriage.types import ChatRequest

    _check_router(args.router)
    ds = datasets.load(args.data, _prices(args.config))
    requests = [ChatRequest.from_prompt(p) for p in ds.prompts]
    model = train(args.router, ds.models, requests, ds.scores, ds.costs, seed=args.seed)
    path = artifact.save(model, args.out)
    print(
        f"trained {args.router} on {len(ds)} prompts x {len(ds.models)} models "
        f"in {model.meta['fit_seconds']:.1f}s -> {path}"
    )
    return 0


def _cmd_route(args: argparse.Namespace) -> int:
    from llmtriage import config
    from llmtriage.routing.triage import Triage

    triage = Triage.from_config(config.load(args.config))
    decision = triage.decide([{"role": "user", "content": args.prompt}], tier=args.tier)
    if args.json:
        print(json.dumps(decision.to_dict(), indent=2))
        return 0
    print(f"model: {decision.model}  (tier {decision.tier}, router {decision.router})")
    print(f"why:   {decision.reason}")
    for e in decision.estimates:
        flag = "" if e.eligible else f"  [excluded: {e.reason}]"
        print(f"  {e.tier:<10} {e.model:<40} quality {e.quality:.3f}  cost ${e.cost_usd:.6f}{flag}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from llmtriage.demo import run_live, run_offline

    if args.offline:
        return run_offline(Path(args.out), quiet=args.quiet)
    return run_live(Path(args.out), quiet=args.quiet)


def _cmd_serve(args: argparse.Namespace) -> int:
    from llmtriage import config
    from llmtriage.gateway.server import check_exposure, serve

    if args.config:
        cfg = config.load(args.config)
        check_exposure(cfg, args.host, args.insecure)
        serve(cfg, args.host, args.port, args.insecure)
        return 0
    from llmtriage.embedded import embedded_config, embedded_triage, sample_split
    from llmtriage.gateway.app import create_app
    from llmtriage.gateway.server import run

    cfg = embedded_config("llmtriage.db")
    check_exposure(cfg, args.host, args.insecure)
    print("training the embedded router on the bundled sample ...", flush=True)
    app = create_app(cfg, embedded_triage(cfg, sample_split()[0]))
    print(
        f"llmtriage gateway on http://{args.host}:{args.port}/v1 (embedded replay demo)", flush=True
    )
    run(app, cfg, args.host, args.port)
    return 0


def _keys_store(args: argparse.Namespace) -> tuple[Store, Config | None]:
    from llmtriage import config
    from llmtriage.store.factory import open_store

    if bool(args.config) == bool(args.store):
        raise ConfigError("--config", "give exactly one of --config FILE or --store URL")
    cfg = config.load(args.config) if args.config else None
    return open_store(cfg.store.url if cfg else args.store), cfg


def _cmd_keys(args: argparse.Namespace) -> int:
    from llmtriage.gateway.auth import create_key

    if args.action != "list" and not args.name:
        raise ConfigError("NAME", f"'keys {args.action}' needs a key name")
    store, cfg = _keys_store(args)
    try:
        if args.action == "list":
            for k in store.list_keys(include_revoked=args.all):
                state = "revoked" if k.revoked_at else "active"
                print(f"{k.name:<24} {state:<8} {json.dumps(k.limits)}")
            return 0
        if args.action == "revoke":
            if not store.revoke_key(args.name):
                raise ConfigError("NAME", f"no active key named {args.name!r} in the store")
            print(f"revoked {args.name} (replicas drop it within auth.refresh_s)")
            return 0
        limits = _limits(args, cfg)
        try:
            key = create_key(store, args.name, limits)
        except ValueError as exc:
            raise ConfigError("NAME", str(exc)) from None
        print(key)  # the only time the key is shown; the store keeps its hash
        print(f"created {args.name}; store it now, it cannot be shown again", file=sys.stderr)
        return 0
    finally:
        store.close()


def _limits(args: argparse.Namespace, cfg: Config | None) -> KeyLimits:
    from pydantic import ValidationError

    from llmtriage.config import KeyLimits

    flags = {"budget_usd_per_day": "--budget-day", "budget_usd_per_month": "--budget-month"}
    flags |= {"requests_per_minute": "--rpm", "tokens_per_minute": "--tpm"}
    values = dict(zip(flags, (args.budget_day, args.budget_month, args.rpm, args.tpm), strict=True))
    try:
        limits = KeyLimits(**values, models=args.model, tiers=args.tier)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(flags.get(str(err["loc"][0]), "--model"), err["msg"]) from None
    if cfg is not None:
        if args.name in {k.name for k in cfg.auth.keys}:
            raise ConfigError("NAME", f"the config already has a key named {args.name!r}")
        for m in limits.models or ():
            if m not in cfg.tier_of():
                _unknown("--model", m)
        for t in limits.tiers or ():
            if t not in {tier.name for tier in cfg.tiers}:
                _unknown("--tier", t)
    return limits


def _unknown(flag: str, name: str) -> None:
    raise ConfigError(flag, f"unknown {flag[2:]} {name!r} in the config")


def _keys_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    ks = sub.add_parser("keys", help="create, list and revoke client keys in the store")
    ks.add_argument("action", choices=["create", "list", "revoke"])
    ks.add_argument("name", nargs="?", help="key name (create, revoke)")
    ks.add_argument("--config", help="the gateway's config (its store.url is used)")
    ks.add_argument("--store", help="store URL instead of --config")
    ks.add_argument("--budget-day", type=float, help="USD per UTC day")
    ks.add_argument("--budget-month", type=float, help="USD per UTC month")
    ks.add_argument("--rpm", type=int, help="requests per minute")
    ks.add_argument("--tpm", type=int, help="tokens per minute")
    ks.add_argument("--model", action="append", help="allowed model (repeatable)")
    ks.add_argument("--tier", action="append", help="allowed tier (repeatable)")
    ks.add_argument("--all", action="store_true", help="list: include revoked keys")
    ks.set_defaults(fn=_cmd_keys)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="llmtriage", description="Route LLM requests to the cheapest adequate model.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("routers", help="list registered routers").set_defaults(fn=_cmd_routers)
    ev = sub.add_parser("eval", help="fit routers on TRAIN, score them on TEST")
    ev.add_argument("--train", required=True)
    ev.add_argument("--test", required=True)
    ev.add_argument("--router", action="append", help="router name (repeatable); default: default")
    ev.add_argument("--out", required=True)
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.add_argument("--config", help="model prices for a dataset with tokens but no cost_usd")
    ev.set_defaults(fn=_cmd_eval)
    tr = sub.add_parser("train", help="fit a router on a dataset and save the artifact")
    tr.add_argument("--data", required=True)
    tr.add_argument("--router", default="default")
    tr.add_argument("--out", required=True)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--config", help="model prices for a dataset with tokens but no cost_usd")
    tr.set_defaults(fn=_cmd_train)
    ro = sub.add_parser("route", help="dry run: print the decision for a prompt and why")
    ro.add_argument("--config", required=True)
    ro.add_argument("--tier", default=None, help="restrict the choice to one tier")
    ro.add_argument("--json", action="store_true")
    ro.add_argument("prompt")
    ro.set_defaults(fn=_cmd_route)
    de = sub.add_parser("demo", help="replay a sample workload through the embedded gateway")
    de.add_argument("--out", default="demo-report")
    de.add_argument("--quiet", action="store_true")
    de.add_argument("--offline", action="store_true", help="offline evaluation instead")
    de.set_defaults(fn=_cmd_demo)
    se = sub.add_parser("serve", help="run the OpenAI-compatible gateway")
    se.add_argument("--config", default=None, help="YAML config (default: the embedded demo)")
    se.add_argument("--host", default="127.0.0.1")
    se.add_argument("--port", type=int, default=8080)
    se.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback address without API keys"
    )
    se.set_defaults(fn=_cmd_serve)
    _keys_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        return int(exc.code or 0)
    try:
        return int(args.fn(args))
    except (ConfigError, DataError, RoutingError) as exc:
        message = " ".join(str(exc).split())  # the contract is a one-line message
        print(f"llmtriage: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
