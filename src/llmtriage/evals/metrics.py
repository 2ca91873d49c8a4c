"""Cost/quality metrics for evaluating LLM routers (pure numpy).

Inputs: ``q[K, n]``/``c[K, n]``, realised score (0..1) and cost (USD) per operating point k of a
router sweep and test prompt i; ``single_q[M, n]``/``single_c[M, n]``, the same per single model;
optionally ``strong[K, n]``, prompt i went to the strong model at point k (two-model pools).
A router's curve is its (mean cost, mean quality) per point. Conventions: non-finite curve points
are ignored; reaching a quality/PGR target allows ``TOL`` slack and fitting a budget a relative
``TOL`` slack (float noise in means must not flip a comparison); unreachable targets, empty
budgets and undefined ratios give nan, never an exception.

References: Hu et al. 2024, "RouterBench" (arXiv:2403.12031) for AIQ; Ong et al. 2024,
"RouteLLM" (arXiv:2406.18665) for PGR, APGR and CPT.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
TOL = 1e-9
_CHUNK = 128  # resamples whose means are computed in one matrix product
_NAN = float("nan")


@dataclass(frozen=True)
class Resample:
    """One (re)sample of the test prompts, reduced to means; what a bootstrap metric receives.

    ``cost``/``quality`` [K]: the router curve; ``single_cost``/``single_quality`` [M]: the single
    models; ``share`` [K]: fraction of prompts sent to the strong model, or None.
    """

    cost: FloatArray
    quality: FloatArray
    single_cost: FloatArray
    single_quality: FloatArray
    share: FloatArray | None = None

    @property
    def best(self) -> int:
        """Index of the best single model in this resample (see :func:`best_single`)."""
        return best_single(self.single_cost, self.single_quality)


MetricFn = Callable[[Resample], float]


def _pair(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Two equal-length 1-D float arrays with the non-finite pairs dropped."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"need two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def curve_points(q: npt.ArrayLike, c: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Router curve ``(cost[K], quality[K])``: mean cost and mean score over prompts per point.

    This is the cost/quality plane of RouterBench (Hu et al. 2024) and RouteLLM
    (Ong et al. 2024), one point per value of the router's knob.
    """
    qa, ca = np.asarray(q, dtype=np.float64), np.asarray(c, dtype=np.float64)
    if qa.ndim != 2 or qa.shape != ca.shape or qa.shape[1] == 0:
        raise ValueError(f"q and c must both be [K, n>0], got {qa.shape} and {ca.shape}")
    return ca.mean(axis=1), qa.mean(axis=1)


def pareto_front(cost: npt.ArrayLike, quality: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Non-dominated points, by cost ascending with quality strictly increasing.

    A point is dominated when another costs no more and scores at least as much (standard Pareto
    dominance, as in RouterBench's "non-decreasing" frontier); of exact duplicates one is kept.
    """
    c, qv = _pair(cost, quality)
    order = np.lexsort((-qv, c))  # cost ascending, best quality first among equal costs
    c, qv = c[order], qv[order]
    if c.size == 0:
        return c, qv
    best_before = np.concatenate(([-np.inf], np.maximum.accumulate(qv)[:-1]))
    keep = qv > best_before
    return c[keep], qv[keep]


def cost_to_reach(cost: npt.ArrayLike, quality: npt.ArrayLike, target: float) -> float:
    """Smallest cost among points whose quality >= ``target`` (no interpolation); nan if none.

    The "cost to reach x% of the best model's quality" of RouteLLM/RouterBench, read off the
    realised points only, so it is always an operating point one can actually deploy.
    """
    c, qv = _pair(cost, quality)
    ok = qv >= target - TOL
    return float(c[ok].min()) if ok.any() else _NAN


def quality_at_cost(cost: npt.ArrayLike, quality: npt.ArrayLike, budget: float) -> float:
    """Best quality among points whose cost <= ``budget`` (no interpolation); nan if none."""
    c, qv = _pair(cost, quality)
    ok = c <= budget + TOL * abs(budget)
    return float(qv[ok].max()) if ok.any() else _NAN


def quality_hull(cost: npt.ArrayLike, quality: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vertices of the non-decreasing concave (upper convex) hull of the points, by cost.

    RouterBench (Hu et al. 2024): a router can randomise between two operating points,
    so every point on a segment between them is achievable; the hull is the best achievable
    quality at each cost. It is the upper hull of the Pareto front (monotone chain).
    """
    fc, fq = pareto_front(cost, quality)
    hc: list[float] = []
    hq: list[float] = []
    for x, y in zip(fc.tolist(), fq.tolist(), strict=True):
        # drop the last vertex while it lies on or below the chord from its predecessor to (x, y)
        while len(hc) >= 2 and (
            (hc[-1] - hc[-2]) * (y - hq[-2]) - (hq[-1] - hq[-2]) * (x - hc[-2]) >= 0
        ):
            hc.pop()
            hq.pop()
        hc.append(x)
        hq.append(y)
    return np.array(hc, dtype=np.float64), np.array(hq, dtype=np.float64)


def aiq(cost: npt.ArrayLike, quality: npt.ArrayLike, lo: float, hi: float) -> float:
    """Average Improvement in Quality (RouterBench, Hu et al. 2024) over ``[lo, hi]``.

    ``AIQ = (1 / (hi - lo)) * integral_lo^hi H(x) dx`` with ``H`` the non-decreasing concave hull
    of the points (:func:`quality_hull`), flat after its highest point (spending less than the
    budget is allowed). Convention left of the cheapest point, where no operating point exists:
    ``H = 0`` there, i.e. we integrate only from ``max(lo, cheapest cost)`` but still divide by
    ``hi - lo``, so a router that cannot run as cheaply as ``lo`` is penalised for it (it returns
    0 when ``hi`` is below its cheapest point). nan when there are no finite points.
    """
    if not hi > lo:
        raise ValueError(f"need hi > lo, got lo={lo}, hi={hi}")
    hc, hq = quality_hull(cost, quality)
    if hc.size == 0:
        return _NAN
    a = max(lo, float(hc[0]))
    if a >= hi:
        return 0.0
    xs = np.concatenate(([a], hc[(hc > a) & (hc < hi)], [hi]))
    ys = np.interp(xs, hc, hq)  # exact: H is linear between hull vertices
    return float(np.sum((ys[1:] + ys[:-1]) * np.diff(xs)) / 2 / (hi - lo))


def pgr(quality: npt.ArrayLike, q_weak: float, q_strong: float) -> FloatArray:
    """Performance Gap Recovered (RouteLLM, Ong et al. 2024), per point.

    ``PGR = (quality - q_weak) / (q_strong - q_weak)``; all nan unless ``q_strong > q_weak``.
    """
    qv = np.asarray(quality, dtype=np.float64)
    gap = q_strong - q_weak
    if not (np.isfinite(gap) and gap > 0):
        return np.full(qv.shape, np.nan)
    out: FloatArray = (qv - q_weak) / gap
    return out


def apgr(share: npt.ArrayLike, quality: npt.ArrayLike, q_weak: float, q_strong: float) -> float:
    """Average PGR (RouteLLM, Ong et al. 2024): area under PGR vs strong-call share.

    The points are joined with the endpoints (0, PGR 0) and (1, PGR 1) (always weak / always
    strong), sorted by share and integrated with the trapezoid rule over [0, 1]. Each share uses
    the best PGR at that share or below (a monotone envelope: with a budget of strong calls one
    can always run a point that needs fewer). RouteLLM samples 10 equal share intervals instead.
    A random router scores 0.5. nan unless ``q_strong > q_weak``.
    """
    s, qv = _pair(share, quality)
    if s.size and (s.min() < 0 or s.max() > 1):
        raise ValueError("strong-call shares must lie in [0, 1]")
    if not q_strong - q_weak > 0:
        return _NAN
    s = np.concatenate(([0.0], s, [1.0]))
    g = np.concatenate(([0.0], pgr(qv, q_weak, q_strong), [1.0]))
    order = np.lexsort((-g, s))  # share ascending, best PGR first among equal shares
    env = np.maximum.accumulate(g[order])
    return float(np.sum((env[1:] + env[:-1]) * np.diff(s[order])) / 2)


def cpt(
    share: npt.ArrayLike, quality: npt.ArrayLike, q_weak: float, q_strong: float, pgr_target: float
) -> float:
    """Call-Performance Threshold (RouteLLM, Ong et al. 2024), e.g. CPT(50%).

    The minimum strong-call share among the router's points with PGR >= ``pgr_target`` (a
    fraction, 0.5 for CPT(50%)). Only the router's own points count (the always-strong endpoint is
    not added), so nan means the sweep never reaches the target.
    """
    s, qv = _pair(share, quality)
    ok = pgr(qv, q_weak, q_strong) >= pgr_target - TOL
    return float(s[ok].min()) if ok.any() else _NAN


def best_single(single_cost: npt.ArrayLike, single_quality: npt.ArrayLike) -> int:
    """Index of the best single model: highest mean quality, ties broken by lower mean cost."""
    c, qv = np.asarray(single_cost, dtype=np.float64), np.asarray(single_quality, np.float64)
    if qv.ndim != 1 or qv.size == 0 or c.shape != qv.shape:
        raise ValueError("need equal-length, non-empty single-model cost and quality")
    return int(np.lexsort((c, -qv))[0])


def _stack(*arrays: npt.ArrayLike | None) -> tuple[FloatArray, int, int]:
    """Check ``q, c [K, n]; single_q, single_c [M, n]; strong [K, n] | None`` and stack the rows."""
    parts = [np.asarray(a, dtype=np.float64) for a in arrays if a is not None]
    k, n = parts[0].shape if parts[0].ndim == 2 else (0, 0)
    m = parts[2].shape[0] if parts[2].ndim == 2 else 0
    want = [(k, n), (k, n), (m, n), (m, n), (k, n)][: len(parts)]
    if n == 0 or k == 0 or m == 0 or any(p.shape != w for p, w in zip(parts, want, strict=True)):
        got = [p.shape for p in parts]
        raise ValueError(f"need q, c, strong [K, n] and single_q, single_c [M, n]; got {got}")
    rows = np.vstack(parts)
    if not np.isfinite(rows).all():
        raise ValueError("inputs must be finite")
    return rows, k, m


def _split(means: FloatArray, k: int, m: int) -> Resample:
    """Cut one row of stacked means back into a :class:`Resample`."""
    share = means[2 * k + 2 * m :] if means.size > 2 * k + 2 * m else None
    single_q, single_c = means[2 * k : 2 * k + m], means[2 * k + m : 2 * k + 2 * m]
    return Resample(means[k : 2 * k], means[:k], single_c, single_q, share)


def _resamples(rows: FloatArray, k: int, m: int, n_boot: int, seed: int) -> Iterator[Resample]:
    """Bootstrap resamples of the prompts (columns of ``rows``), drawn with replacement.

    A resample is a count vector ``w[n]`` (multinomial, sums to n), so its means are
    ``rows @ w / n``; the counts of ``_CHUNK`` resamples at a time make one matrix product.
    """
    n = rows.shape[1]
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, _CHUNK):
        b = min(_CHUNK, n_boot - start)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)
        yield from (_split(row, k, m) for row in (counts.astype(np.float64) @ rows.T) / n)


def _bootstrap_all(
    fns: Mapping[str, MetricFn],
    arrays: tuple[npt.ArrayLike | None, ...],
    n_boot: int,
    seed: int,
    alpha: float,
) -> dict[str, tuple[float, float, float]]:
    """Point value and percentile interval of every metric in ``fns`` on the same resamples."""
    if n_boot < 1 or not 0 < alpha < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < alpha < 1, got {n_boot}, {alpha}")
    rows, k, m = _stack(*arrays)
    full = _split(rows.mean(axis=1), k, m)
    vals = np.array([[f(r) for f in fns.values()] for r in _resamples(rows, k, m, n_boot, seed)])
    out: dict[str, tuple[float, float, float]] = {}
    for j, (name, f) in enumerate(fns.items()):
        v = vals[:, j][np.isfinite(vals[:, j])]
        lo, hi = np.percentile(v, [50 * alpha, 100 - 50 * alpha]) if v.size else (_NAN, _NAN)
        out[name] = (float(f(full)), float(lo), float(hi))
    return out


def bootstrap(
    metric_fn: MetricFn,
    q: npt.ArrayLike,
    c: npt.ArrayLike,
    single_q: npt.ArrayLike,
    single_c: npt.ArrayLike,
    *,
    strong: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Percentile bootstrap over prompts (Efron & Tibshirani 1993, ch. 13): ``(point, lo, hi)``.

    Prompts (columns of every input) are resampled with replacement ``n_boot`` times; each time
    the router curve, the single-model means (hence the best single model) and the strong share
    are recomputed and passed to ``metric_fn`` as a :class:`Resample`. ``point`` is the metric on
    the full data; ``[lo, hi]`` the ``alpha/2`` and ``1 - alpha/2`` percentiles of the resampled
    values, ignoring nan (nan when all are nan).
    """
    arrays = (q, c, single_q, single_c, strong)
    return _bootstrap_all({"m": metric_fn}, arrays, n_boot, seed, alpha)["m"]


def _cost_frac(r: Resample, frac: float) -> float:
    """Cost to reach ``frac`` of the best model's quality, as a fraction of its cost."""
    bc = float(r.single_cost[r.best])
    target = frac * float(r.single_quality[r.best])
    return cost_to_reach(r.cost, r.quality, target) / bc if bc > 0 else _NAN


def _quality_frac(r: Resample, frac: float) -> float:
    """Quality at ``frac`` of the best model's cost."""
    return quality_at_cost(r.cost, r.quality, frac * float(r.single_cost[r.best]))


def _aiq_span(r: Resample) -> float:
    """AIQ between the cheapest single model's cost and the best single model's cost."""
    lo, hi = float(r.single_cost.min()), float(r.single_cost[r.best])
    return aiq(r.cost, r.quality, lo, hi) if hi > lo else _NAN


def _two_model(r: Resample, weak: int, pgr_target: float | None) -> float:
    """APGR (``pgr_target`` None) or CPT of a two-model resample, ``weak`` = weak model's row."""
    if r.share is None:
        raise ValueError("APGR/CPT need the strong-call flags")
    q_weak, q_strong = float(r.single_quality[weak]), float(r.single_quality[1 - weak])
    if pgr_target is None:
        return apgr(r.share, r.quality, q_weak, q_strong)
    return cpt(r.share, r.quality, q_weak, q_strong, pgr_target)


def summarize(
    q: npt.ArrayLike,
    c: npt.ArrayLike,
    single_q: npt.ArrayLike,
    single_c: npt.ArrayLike,
    *,
    strong: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, dict[str, float]]:
    """The headline metrics of DESIGN.md sec. 5, each ``{"value", "ci_low", "ci_high"}``.

    Per resample, relative to the best single model (highest mean quality, ties -> cheaper):
    ``cost_to_95``/``cost_to_100``, cost to reach 95%/100% of its quality as a fraction of its
    cost; ``quality_at_10``/``quality_at_30``, mean score at 10%/30% of its cost; ``aiq`` over
    [cheapest single model's cost, its cost] (nan if it is the cheapest). With ``strong`` (M must
    be 2): ``apgr``, ``cpt_50``, ``cpt_80``; the weak model is the cheaper one on the full data.
    """
    fns: dict[str, MetricFn] = {
        "cost_to_95": lambda r: _cost_frac(r, 0.95),
        "cost_to_100": lambda r: _cost_frac(r, 1.0),
        "quality_at_10": lambda r: _quality_frac(r, 0.1),
        "quality_at_30": lambda r: _quality_frac(r, 0.3),
        "aiq": _aiq_span,
    }
    if strong is not None:
        sc = np.asarray(single_c, dtype=np.float64)
        if sc.ndim != 2 or sc.shape[0] != 2:
            raise ValueError("APGR/CPT need exactly two single models when strong is given")
        weak = int(np.argmin(sc.mean(axis=1)))
        fns["apgr"] = lambda r: _two_model(r, weak, None)
        fns["cpt_50"] = lambda r: _two_model(r, weak, 0.5)
        fns["cpt_80"] = lambda r: _two_model(r, weak, 0.8)
    res = _bootstrap_all(fns, (q, c, single_q, single_c, strong), n_boot, seed, alpha)
    return {k: {"value": v[0], "ci_low": v[1], "ci_high": v[2]} for k, v in res.items()}
