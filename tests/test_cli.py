"""Tests for llmtriage.cli (DESIGN.md §3.2): main(argv) in-process, and the installed script."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from llmtriage.cli import main

# tiny < medium < big in price; prompts saying 'hard' are solved only by big.
PRICE = {"tiny": 0.0001, "medium": 0.001, "big": 0.01}
TOPICS = ["cats", "history", "python lists", "the weather", "cooking pasta", "music theory"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def synthetic(n: int = 120) -> pd.DataFrame:
    """Every third prompt is 'hard' (only big solves it); tiny half-solves half the rest."""
    rows = []
    for i in range(n):
        hard, topic = i % 3 == 0, TOPICS[i % len(TOPICS)]
        prompt = (
            f"hard question {i}: derive the theorem about {topic} step by step"
            if hard
            else f"easy question {i}: say something short about {topic}"
        )
        for model, price in PRICE.items():
            solved = model == "big" if hard else not (model == "tiny" and i % 2 == 0)
            score = 1.0 if solved else (0.0 if hard else 0.5)
            cost, task = price * (2 if hard else 1), "hard" if hard else "easy"
            rows.append((f"p{i:03d}", prompt, model, score, cost, task))
    return pd.DataFrame(rows, columns=["prompt_id", "prompt", "model", "score", "cost_usd", "task"])


def eval_argv(train: Path, test: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--train", str(train), "--test", str(test), "--out", str(out), *extra]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.parquet (90 prompts) and test.parquet (every 4th prompt: 30)."""
    root = tmp_path_factory.mktemp("data")
    df = synthetic()
    in_test = df["prompt_id"].str[1:].astype(int) % 4 == 0
    df[~in_test].to_parquet(root / "train.parquet")
    df[in_test].to_parquet(root / "test.parquet")
    return root


@pytest.fixture(scope="module")
def eval_out(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "report"
    extra = ["--router", "default", "--router", "knn", "--bootstrap", "50", "--quiet"]
    assert main(eval_argv(data_dir / "train.parquet", data_dir / "test.parquet", out, *extra)) == 0
    return out


CONFIG = """\
models:
  - {name: tiny, provider: replay, price: {input_per_mtok: 0.1, output_per_mtok: 0.4}}
  - {name: medium, provider: replay, price: {input_per_mtok: 1.0, output_per_mtok: 4.0}}
  - {name: big, provider: replay, price: {input_per_mtok: 10.0, output_per_mtok: 40.0}}
tiers:
  - {name: small, models: [tiny]}
  - {name: mid, models: [medium]}
  - {name: frontier, models: [big]}
"""


def write_config(path: Path, extra: str = "") -> Path:
    path.write_text(CONFIG + extra)
    return path


def route(capsys: pytest.CaptureFixture[str], cfg: Path, prompt: str) -> dict[str, object]:
    assert main(["route", "--config", str(cfg), "--json", prompt]) == 0
    decision: dict[str, object] = json.loads(capsys.readouterr().out)
    return decision


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], usage: bool = False) -> str:
    """Run main, expect exit 2 and a one-line 'llmtriage: error:' message on stderr, after
    argparse's usage text for usage errors; return the message."""
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    if usage:
        assert lines[0].startswith("usage: llmtriage")
        lines = [ln for ln in lines if not ln.startswith(("usage:", " "))]
    assert len(lines) == 1, lines
    assert lines[0].startswith("llmtriage: error: ")
    return lines[0]


# ---------------------------------------------------------------- routers


EXPECTED_ROUTERS = {"rules", "knn", "cluster", "linear", "stack", "default"}


def test_routers_lists_each_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = {ln.split()[0] for ln in lines}
    assert names == EXPECTED_ROUTERS
    assert len(lines) == len(EXPECTED_ROUTERS)
    assert all(len(ln.split()) > 2 for ln in lines)


def test_installed_console_script_lists_routers() -> None:
    script = Path(sys.executable).with_name("llmtriage")
    proc = subprocess.run(
        [str(script), "routers"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert {ln.split()[0] for ln in proc.stdout.splitlines()} == EXPECTED_ROUTERS


# ---------------------------------------------------------------- eval


def test_eval_curve_csv(eval_out: Path, data_dir: Path) -> None:
    with (eval_out / "curve.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["router", "knob", "cost_usd", "quality"]
    by_router: dict[str, list[tuple[float, float, float]]] = {}
    for name, knob, cost, quality in rows[1:]:
        by_router.setdefault(name, []).append((float(knob), float(cost), float(quality)))
    expected = {"default", "knn", "oracle", "random", "zero_router", "task_lookup"}
    assert set(by_router) == expected | {f"single:{m}" for m in PRICE}
    assert all(0 <= q <= 1 and c > 0 for pts in by_router.values() for _, c, q in pts)
    # single models realise exactly their mean test cost and quality
    test = pd.read_parquet(data_dir / "test.parquet")
    for model in PRICE:
        sub = test[test.model == model]
        [(_, cost, quality)] = by_router[f"single:{model}"]
        assert cost == pytest.approx(sub.cost_usd.mean(), rel=1e-6)
        assert quality == pytest.approx(sub.score.mean(), abs=1e-6)
    # the oracle's best point solves every test prompt
    assert max(q for _, _, q in by_router["oracle"]) == pytest.approx(1.0)
    # the recommended router learns 'hard': full quality well under the cost of always-big
    big_cost = test[test.model == "big"].cost_usd.mean()
    assert any(q >= 0.95 and c <= 0.75 * big_cost for _, c, q in by_router["default"])


def test_eval_summary_report_and_plot(eval_out: Path) -> None:
    summary = json.loads((eval_out / "summary.json").read_text())
    results = summary["results"]
    expected = {"default", "knn", "oracle", "random", "zero_router", "task_lookup"}
    assert set(results) == expected | {f"single:{m}" for m in PRICE}
    assert results["default"]["kind"] == "router"
    assert results["oracle"]["kind"] == "baseline"
    assert summary["best_single_model"]["model"] == "big"
    assert summary["train"]["prompts"] == 90
    assert summary["test"]["prompts"] == 30
    report = (eval_out / "report.md").read_text()
    for name in ("default", "knn", "oracle", "zero_router", "single:big"):
        assert f"| {name} |" in report
    png = (eval_out / "curve.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 1000


def test_eval_aligns_model_order_between_files(data_dir: Path, tmp_path: Path) -> None:
    # In this test file 'medium' costs more on average than 'big': its own order differs.
    df = synthetic(40)
    df = df[df["prompt_id"].str[1:].astype(int) % 4 == 0]  # not in train.parquet
    df.loc[df.model == "medium", "cost_usd"] = 1.0
    df.to_parquet(tmp_path / "test.parquet")
    extra = ["--router", "rules", "--bootstrap", "10", "--quiet"]
    argv = eval_argv(data_dir / "train.parquet", tmp_path / "test.parquet", tmp_path / "out")
    assert main([*argv, *extra]) == 0
    with (tmp_path / "out" / "curve.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    single = {r["router"]: float(r["cost_usd"]) for r in rows if r["router"].startswith("single")}
    assert single["single:medium"] == pytest.approx(1.0)
    assert single["single:big"] < 1.0


# ---------------------------------------------------------------- train and route


def test_route_without_artifact_sends_hard_prompts_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path / "llmtriage.yaml")
    order = ["small", "mid", "frontier"]
    proof = route(
        capsys, cfg, "Prove that there are infinitely many primes, rigorously, step by step"
    )
    thanks = route(capsys, cfg, "hi, thanks!")
    assert proof["router"] == thanks["router"] == "rules"
    assert order.index(str(proof["tier"])) > order.index(str(thanks["tier"]))
    assert len(proof["estimates"]) == 3  # type: ignore[arg-type]


def test_route_prints_decision_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path / "llmtriage.yaml")
    assert main(["route", "--config", str(cfg), "--tier", "mid", "hi, thanks!"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model: medium  (tier mid, router rules)")
    assert "why:" in out
    for model in PRICE:
        assert model in out


def test_train_writes_artifact_that_route_uses(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tmp_path / "router.npz"
    argv = ["train", "--data", str(data_dir / "train.parquet"), "--router", "default"]
    assert main([*argv, "--out", str(artifact)]) == 0
    assert "trained default on 90 prompts x 3 models" in capsys.readouterr().out
    assert artifact.stat().st_size > 0
    cfg = write_config(tmp_path / "llmtriage.yaml", f"router: {{artifact: {artifact.name}}}\n")
    hard = route(capsys, cfg, "hard question: derive the theorem about cats step by step")
    easy = route(capsys, cfg, "easy question: say something short about cats")
    assert hard["router"] == easy["router"] == "default"
    assert hard["model"] == "big"
    assert easy["model"] != "big"


# ---------------------------------------------------------------- usage and errors


def test_unknown_router(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = eval_argv(data_dir / "train.parquet", data_dir / "test.parquet", tmp_path)
    line = one_line_error(capsys, [*argv, "--router", "knnn"])
    assert "'knnn'" in line
    assert "known: rules, knn, cluster, linear, stack, default" in line
    argv = ["train", "--data", "x.csv", "--router", "nope", "--out", "a"]
    assert "'nope'" in one_line_error(capsys, argv)


def test_missing_dataset_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.parquet"
    argv = eval_argv(missing, missing, tmp_path)
    assert f"{missing}: no such file" in one_line_error(capsys, argv)
    argv = ["train", "--data", str(missing), "--out", str(tmp_path / "a")]
    assert "no such file" in one_line_error(capsys, argv)


def test_train_and_test_sharing_prompts(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = data_dir / "train.parquet"
    line = one_line_error(capsys, eval_argv(train, train, tmp_path / "o"))
    assert "90 prompt_id(s) are also in" in line


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("gatewy: {port: 1}\n", "gatewy: Extra inputs are not permitted"),
        ("tiers: [\n", "bad.yaml is not valid YAML"),
        ("router: {objective: {target_share: {huge: 0.2}}}\n", "unknown tier 'huge'"),
        ("router: {kind: nosuch}\n", "router.kind: unknown router 'nosuch'"),
    ],
)
def test_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, fragment: str
) -> None:
    cfg = write_config(tmp_path / "bad.yaml", extra=extra)
    assert fragment in one_line_error(capsys, ["route", "--config", str(cfg), "hello"])


def test_unknown_tier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path / "llmtriage.yaml")
    line = one_line_error(capsys, ["route", "--config", str(cfg), "--tier", "huge", "hi"])
    assert "'huge'" in line


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["frobnicate"], "'frobnicate'"),
        ([], "command"),
        (["eval", "--train", "t.parquet"], "--test, --out"),
        (["route", "--config", "c.yaml"], "prompt"),
        (["eval", "--train", "a", "--test", "b", "--out", "o", "--bootstrap", "many"], "many"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str) -> None:
    assert fragment in one_line_error(capsys, argv, usage=True)


@pytest.mark.parametrize("url", ["mysql://u:secret@h/d", "postgresql://u:secret@h/d"])
def test_serve_with_an_unsupported_store_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    # found before the server starts: not a traceback from inside its lifespan (exit 3)
    cfg = write_config(tmp_path / "llmtriage.yaml", extra=f"store: {{url: '{url}'}}\n")
    line = one_line_error(capsys, ["serve", "--config", str(cfg), "--port", "0"])
    assert "store.url" in line and "secret" not in line


def test_train_prices_a_token_only_dataset_from_a_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        f"p{i},question number {i},{m},{(i + j) % 2},{100 + i},{20 * (j + 1)}"
        for i in range(40)
        for j, m in enumerate(("tiny", "medium", "big"))
    ]
    data = tmp_path / "tokens.csv"
    data.write_text("prompt_id,prompt,model,score,input_tokens,output_tokens\n" + "\n".join(rows))
    argv = ["train", "--data", str(data), "--router", "knn", "--out", str(tmp_path / "r.npz")]
    assert "--config" in one_line_error(capsys, argv)  # no cost_usd and no prices: says how
    cfg = write_config(tmp_path / "llmtriage.yaml")
    assert main([*argv, "--config", str(cfg)]) == 0
    assert (tmp_path / "r.npz").exists()
