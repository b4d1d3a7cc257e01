"""Verdicts with their evidence: every model against the random walk and climatology.

For each metric a model is compared row by row with a baseline on the same forecast dates:
the mean loss difference, a Diebold-Mariano p-value with a HAC variance (lag at least h - 1)
and a moving-block bootstrap interval. "beats" needs p < 0.05 in its favour, "loses" p < 0.05
against it; anything else is "no significant difference". Coverage is judged against its
nominal level with a bootstrap interval. No metric speaks for the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from zlflow.calibrate import interval_pairs
from zlflow.errors import ZlflowError
from zlflow.metrics import (
    RELIABILITY_BINS,
    crps_rows,
    direction_hits,
    interval_score_rows,
)
from zlflow.models.base import MEDIAN, check_quantiles, quantile_column
from zlflow.significance import (
    block_bootstrap_indices,
    bootstrap_mean_ci,
    coverage_verdict,
    diebold_mariano,
    hac_lag,
    verdict,
)

REFERENCES: tuple[str, ...] = ("random_walk", "climatology")
MAJORITY = "majority direction"
BOOTSTRAP_REPS = 1000


class VerdictError(ZlflowError):
    """Verdicts cannot be computed from the predictions given."""


@dataclass(frozen=True)
class Metric:
    """A loss per row; ``higher_is_better`` for scores stored as hits (accuracy)."""

    column: str
    label: str
    higher_is_better: bool = False


def metrics_for(quantiles: Sequence[float]) -> list[Metric]:
    levels = [round(c * 100) for c in interval_pairs(quantiles)]
    return [
        Metric("crps", "CRPS"),
        Metric("abs_error", "MAE of the median"),
        *(Metric(f"interval_score_{lv}", f"{lv}% interval score") for lv in levels),
        Metric("brier", "Brier score"),
        Metric("hit", "directional accuracy", higher_is_better=True),
    ]


def row_losses(frame: pd.DataFrame, quantiles: Sequence[float]) -> pd.DataFrame:
    """Per-row losses of one model's rows with known outcomes, indexed by trade date."""
    qs = check_quantiles(quantiles)
    y = frame["y_true"].to_numpy(dtype=float)
    values = frame[[quantile_column(q) for q in qs]].to_numpy(dtype=float)
    up = (y > 0).astype(float)
    p = frame["p_up"].to_numpy(dtype=float)
    out = pd.DataFrame(index=pd.DatetimeIndex(frame["trade_date"], name="trade_date"))
    out["crps"] = crps_rows(y, values, qs)
    out["abs_error"] = np.abs(y - frame[quantile_column(MEDIAN)].to_numpy(dtype=float))
    for c, (lo, hi) in interval_pairs(qs).items():
        lower = frame[quantile_column(lo)].to_numpy(dtype=float)
        upper = frame[quantile_column(hi)].to_numpy(dtype=float)
        out[f"interval_score_{round(c * 100)}"] = interval_score_rows(y, lower, upper, c)
        out[f"inside_{round(c * 100)}"] = ((y >= lower) & (y <= upper)).astype(float)
    out["brier"] = (p - up) ** 2
    out["hit"] = direction_hits(y, p)
    return out


def _known(scored: pd.DataFrame) -> pd.DataFrame:
    return scored[np.isfinite(scored["y_true"].to_numpy(dtype=float))]


def verdict_table(
    scored: pd.DataFrame,
    quantiles: Sequence[float],
    horizon_days: int,
    seed: int = 0,
    references: Sequence[str] = REFERENCES,
) -> pd.DataFrame:
    """One row per (model, metric, baseline): values, difference, CI, DM p-value, verdict.

    ``scored``: predictions of every model and baseline for one horizon, outcomes known. Rows
    are paired by trade date; a model is compared on the dates both forecast. Directional
    accuracy is also compared with always calling the majority direction of the climatology
    baseline's training rows (known at t), and coverage with its nominal level.
    """
    known = _known(scored)
    if known.empty:
        raise VerdictError("no predictions with known outcomes to judge")
    missing = [r for r in references if r not in set(known["model"])]
    if missing:
        raise VerdictError(f"the baselines {missing} are missing; verdicts compare against them")
    qs = check_quantiles(quantiles)
    losses = {
        m: row_losses(rows.sort_values("trade_date"), qs) for m, rows in known.groupby("model")
    }
    climatology = known[known["model"] == "climatology"].set_index("trade_date")
    majority_p = climatology.get("raw_p_up", climatology["p_up"]).astype(float)
    majority = pd.Series(
        direction_hits(
            climatology["y_true"].to_numpy(dtype=float),
            np.where(majority_p.to_numpy() > 0.5, 1.0, 0.0),
        ),
        index=pd.DatetimeIndex(climatology.index),
    )
    horizon = str(known["horizon"].iloc[0]) if "horizon" in known else ""
    records: list[dict[str, object]] = []
    indices_cache: dict[int, np.ndarray] = {}

    def indices(n: int) -> np.ndarray:
        if n not in indices_cache:
            indices_cache[n] = block_bootstrap_indices(
                n, max(horizon_days, round(n ** (1 / 3))), BOOTSTRAP_REPS, seed
            )
        return indices_cache[n]

    def compare(model: str, metric: Metric, baseline: str, a: pd.Series, b: pd.Series) -> None:
        joined = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
        if len(joined) < 2:
            return
        sign = -1.0 if metric.higher_is_better else 1.0
        la, lb = sign * joined["a"].to_numpy(), sign * joined["b"].to_numpy()
        lag = hac_lag(horizon_days, len(joined))
        dm = diebold_mariano(la, lb, lag)
        low, high = bootstrap_mean_ci(
            joined["a"].to_numpy() - joined["b"].to_numpy(), indices(len(joined))
        )
        records.append(
            {
                "horizon": horizon,
                "model": model,
                "metric": metric.column if metric.column != "hit" else "directional_accuracy",
                "label": metric.label,
                "baseline": baseline,
                "n": len(joined),
                "value": float(joined["a"].mean()),
                "baseline_value": float(joined["b"].mean()),
                "difference": float(joined["a"].mean() - joined["b"].mean()),
                "ci_low": low,
                "ci_high": high,
                "statistic": dm.statistic,
                "p_value": dm.p_value,
                "hac_lag": lag,
                "verdict": verdict(dm.mean_diff, dm.p_value),
            }
        )

    for model in sorted(losses):
        ours = losses[model]
        for metric in metrics_for(qs):
            for baseline in references:
                if baseline != model:
                    compare(
                        model,
                        metric,
                        baseline,
                        ours[metric.column],
                        losses[baseline][metric.column],
                    )
            if metric.column == "hit":
                compare(model, metric, MAJORITY, ours["hit"], majority)
        for c in interval_pairs(qs):
            level = round(c * 100)
            inside = ours[f"inside_{level}"].to_numpy()
            lag = hac_lag(horizon_days, len(inside))
            dm = diebold_mariano(inside, np.full(len(inside), c), lag)
            low, high = bootstrap_mean_ci(inside, indices(len(inside)))
            records.append(
                {
                    "horizon": horizon,
                    "model": model,
                    "metric": f"coverage_{level}",
                    "label": f"{level}% interval coverage",
                    "baseline": "nominal",
                    "n": len(inside),
                    "value": float(inside.mean()),
                    "baseline_value": c,
                    "difference": float(inside.mean() - c),
                    "ci_low": low,
                    "ci_high": high,
                    "statistic": dm.statistic,
                    "p_value": dm.p_value,
                    "hac_lag": lag,
                    "verdict": coverage_verdict(low, high, c),
                }
            )
    return pd.DataFrame.from_records(records)


def reliability_table(scored: pd.DataFrame, bins: int = RELIABILITY_BINS) -> pd.DataFrame:
    """Per model and p_up bin: forecasts, mean p_up and observed share of rises."""
    known = _known(scored)
    p = known["p_up"].to_numpy(dtype=float)
    frame = known.assign(
        bin=np.minimum((p * bins).astype(int), bins - 1),
        up=(known["y_true"].to_numpy(dtype=float) > 0).astype(float),
    )
    table = frame.groupby(["model", "bin"]).agg(
        n=("up", "size"), mean_p_up=("p_up", "mean"), observed=("up", "mean")
    )
    table = table.reset_index()
    table["bin_low"] = table["bin"] / bins
    table["bin_high"] = (table["bin"] + 1) / bins
    return table


def pit_table(scored: pd.DataFrame, quantiles: Sequence[float]) -> pd.DataFrame:
    """Per model: the share of outcomes between consecutive quantiles vs its nominal mass.

    The PIT histogram of a quantile forecast: flat (ratio 1) when calibrated, U-shaped when
    the bands are too narrow, peaked when too wide.
    """
    qs = check_quantiles(quantiles)
    edges = [0.0, *qs, 1.0]
    records = []
    for model, rows in _known(scored).groupby("model"):
        y = rows["y_true"].to_numpy(dtype=float)
        values = rows[[quantile_column(q) for q in qs]].to_numpy(dtype=float)
        below = (y[:, None] > values).sum(axis=1)  # number of quantiles under the outcome
        counts = np.bincount(below, minlength=len(qs) + 1)
        for k in range(len(qs) + 1):
            mass = edges[k + 1] - edges[k]
            share = counts[k] / len(y)
            records.append(
                {
                    "model": model,
                    "bin_low": edges[k],
                    "bin_high": edges[k + 1],
                    "nominal": mass,
                    "observed": share,
                    "ratio": share / mass,
                }
            )
    return pd.DataFrame.from_records(records)


def _value(metric: str, value: float) -> str:
    if metric.startswith("coverage") or metric == "directional_accuracy":
        return f"{value:.1%}"
    return f"{value:.4f}"


def summary_lines(
    verdicts: pd.DataFrame, horizon: str, horizon_days: int, models: Sequence[str]
) -> list[str]:
    """The verdict in words, per model and metric, each with its p-value or interval."""
    lines = []
    for model in models:
        rows = verdicts[verdicts["model"] == model]
        if rows.empty:
            continue
        lines.append(f"{model} at {horizon} ({horizon_days} sessions):")
        for row in rows.itertuples():
            if row.baseline == "nominal":
                lines.append(
                    f"  {row.label}: {_value(row.metric, row.value)} against "
                    f"{row.baseline_value:.0%} nominal (95% CI {row.ci_low:.1%} to "
                    f"{row.ci_high:.1%}): {row.verdict}."
                )
                continue
            baseline = str(row.baseline).replace("_", " ")
            lines.append(
                f"  {row.label}: {row.verdict} vs {baseline} "
                f"({_value(row.metric, row.value)} vs {_value(row.metric, row.baseline_value)}, "
                f"p = {row.p_value:.3f})."
            )
    return lines
