"""Write an evaluation to disk: curve.csv, summary.json, report.md, curve.png (DESIGN.md §3.2)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from llmtriage.evals.runner import Evaluation, Result

HEADLINE = (
    ("cost_to_95", "cost to 95% of best", "frac"),
    ("cost_to_100", "cost to 100% of best", "frac"),
    ("quality_at_10", "quality at 10% cost", "abs"),
    ("quality_at_30", "quality at 30% cost", "abs"),
    ("aiq", "AIQ", "abs"),
    ("apgr", "APGR", "abs"),
    ("cpt_50", "CPT(50%)", "frac"),
    ("cpt_80", "CPT(80%)", "frac"),
)


def write(ev: Evaluation, out: Path) -> dict[str, Path]:
    """Write the four files; returns their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "curve": out / "curve.csv",
        "summary": out / "summary.json",
        "report": out / "report.md",
        "plot": out / "curve.png",
    }
    _curve_csv(ev, paths["curve"])
    summary = summary_dict(ev)
    paths["summary"].write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    paths["report"].write_text(markdown(ev, summary))
    plot(ev, paths["plot"])
    return paths


def _curve_csv(ev: Evaluation, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["router", "knob", "cost_usd", "quality"])
        for r in ev.results:
            for k, c, q in zip(r.knobs, r.cost, r.quality, strict=True):
                w.writerow([r.name, f"{k:.6g}", f"{c:.8g}", f"{q:.6f}"])


def _clean(value: Any) -> Any:
    """JSON-safe: nan -> None, recursively."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def summary_dict(ev: Evaluation) -> dict[str, Any]:
    best = ev.test.models.index(ev.best_model)
    entries = {r.name: {"kind": r.kind, "points": len(r.knobs), **r.metrics} for r in ev.results}
    return _clean(
        {
            **ev.info,
            "best_single_model": {
                "model": ev.best_model,
                "quality": float(ev.test.scores[:, best].mean()),
                "cost_usd": float(ev.test.costs[:, best].mean()),
            },
            "results": entries,
        }
    )


def _cell(metric: dict[str, float] | None, style: str) -> str:
    """``value [ci_low, ci_high]``; "–" where the metric is undefined (e.g. never reached)."""

    def fmt(v: float | None) -> str:
        if v is None or math.isnan(v):
            return "–"
        return f"{100 * v:.1f}%" if style == "frac" else f"{v:.3f}"

    if not metric or fmt(metric.get("value")) == "–":
        return "–"
    ci = f" [{fmt(metric.get('ci_low'))}, {fmt(metric.get('ci_high'))}]"
    return fmt(metric["value"]) + ("" if ci == " [–, –]" else ci)


def markdown(ev: Evaluation, summary: dict[str, Any]) -> str:
    best = summary["best_single_model"]
    lines = [
        f"# Routing evaluation: {ev.info['train']['name']} → {ev.info['test']['name']}",
        "",
        f"Train {ev.info['train']['prompts']} prompts, test {ev.info['test']['prompts']} prompts, "
        f"{len(ev.test.models)} models. Best single model on test: **{best['model']}** "
        f"(quality {best['quality']:.3f}, ${best['cost_usd']:.3g} per request). Costs are "
        f"fractions of its cost; 95% bootstrap intervals over test prompts "
        f"({ev.info['n_boot']} resamples) in brackets."
        + (" Dataset costs are estimates." if ev.info["cost_estimated"] else ""),
        "",
        *_headline_table(ev),
        "",
        "## Calibrated operating points (set on a calibration split of TRAIN)",
        "",
        *_calibration_table(ev),
    ]
    fits = [
        f"{r.name} {r.metrics['fit_seconds']:.1f}s"
        for r in ev.results
        if "fit_seconds" in r.metrics
    ]
    lines += [
        "",
        "Fit time (including calibration refit): " + ", ".join(fits),
        "",
        "![cost/quality curve](curve.png)",
        "",
    ]
    return "\n".join(lines)


def _headline_table(ev: Evaluation) -> list[str]:
    keys = [h for h in HEADLINE if any(h[0] in r.metrics for r in ev.results)]
    lines = [
        "| router | kind | " + " | ".join(h[1] for h in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for r in ev.results:
        cells = [_cell(r.metrics.get(k), style) for k, _, style in keys]
        lines.append(f"| {r.name} | {r.kind} | " + " | ".join(cells) + " |")
    return lines


def _calibration_table(ev: Evaluation) -> list[str]:
    lines = [
        "| router | objective | knob | calib. quality | test quality | test quality/best "
        "| test cost/request | share to best |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in ev.results:
        for c in r.metrics.get("calibration", []):
            t = c["test"]
            lines.append(
                f"| {r.name} | {c['objective']} | {c['knob']:.3g} | "
                f"{c['calibration']['quality']:.3f} | {t['quality']:.3f} | "
                f"{100 * t['quality_vs_best']:.1f}% | ${t['cost_usd']:.3g} | "
                f"{100 * t['share_best']:.1f}% |"
            )
    return lines


def plot(ev: Evaluation, path: Path) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    best = ev.test.costs[:, ev.test.models.index(ev.best_model)].mean()
    for r in ev.results:
        _plot_one(ax, r, best)
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per request (fraction of best single model)")
    ax.set_ylabel("mean quality")
    ax.set_title(f"{ev.info['test']['name']}: cost vs quality on held-out prompts")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_one(ax: Any, r: Result, best_cost: float) -> None:
    x = r.cost / best_cost
    if r.kind == "single":
        ax.scatter(x, r.quality, marker="s", s=18, color="gray")
        ax.annotate(r.name.removeprefix("single:")[-22:], (x[0], r.quality[0]), fontsize=6)
        return
    order = x.argsort()
    style = "-" if r.kind == "router" else ":"
    ax.plot(x[order], r.quality[order], style, label=r.name, linewidth=1.5)
