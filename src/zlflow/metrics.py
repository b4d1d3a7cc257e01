"""Forecast scores and naive baselines, so every model is judged against doing nothing clever.

Point, quantile, interval and direction scores share one schema with the model predictions;
baselines are set from each fold's training rows only, like the models they are compared to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from zlflow.calibrate import interval_pairs
from zlflow.errors import ZlflowError
from zlflow.models.base import MEDIAN, check_quantiles, quantile_column

BASELINE_MODELS: tuple[str, ...] = ("random_walk", "drift", "climatology")
LOG_LOSS_CLIP = 1e-12


class MetricsError(ZlflowError):
    """Scores or baselines cannot be computed from the inputs given."""


def _arrays(*values: object) -> list[np.ndarray]:
    """Same-length, non-empty float arrays (metrics of nothing are errors, not NaN)."""
    arrays = [np.asarray(v, dtype=float).ravel() for v in values]
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise MetricsError(f"metric inputs have different lengths {sorted(lengths)}; align them")
    if 0 in lengths:
        raise MetricsError("metric inputs are empty; score at least one row")
    return arrays


def pinball_loss(y: object, q_pred: object, q: float) -> float:
    """Mean quantile (pinball) loss of predictions ``q_pred`` of quantile ``q``."""
    y_, p = _arrays(y, q_pred)
    diff = y_ - p
    return float(np.mean(np.maximum(q * diff, (q - 1.0) * diff)))


def mae(y: object, pred: object) -> float:
    """Mean absolute error."""
    y_, p = _arrays(y, pred)
    return float(np.mean(np.abs(y_ - p)))


def rmse(y: object, pred: object) -> float:
    """Root mean squared error."""
    y_, p = _arrays(y, pred)
    return float(np.sqrt(np.mean((y_ - p) ** 2)))


def coverage(y: object, lo: object, hi: object) -> float:
    """Fraction of outcomes inside the closed interval [lo, hi]."""
    y_, low, high = _arrays(y, lo, hi)
    return float(np.mean((y_ >= low) & (y_ <= high)))


def brier(y_up: object, p: object) -> float:
    """Brier score of probabilities ``p`` for the binary outcomes ``y_up``."""
    y_, p_ = _arrays(y_up, p)
    return float(np.mean((p_ - y_) ** 2))


def log_loss(y_up: object, p: object) -> float:
    """Binary log loss; ``p`` is clipped to [1e-12, 1 - 1e-12] so certainty costs, not crashes."""
    y_, p_ = _arrays(y_up, p)
    p_ = np.clip(p_, LOG_LOSS_CLIP, 1.0 - LOG_LOSS_CLIP)
    return float(-np.mean(y_ * np.log(p_) + (1.0 - y_) * np.log(1.0 - p_)))


def directional_accuracy(y: object, p_up: object) -> float:
    """Fraction of rows where ``p_up > 0.5`` agrees with ``y > 0``."""
    y_, p_ = _arrays(y, p_up)
    return float(np.mean((p_ > 0.5) == (y_ > 0)))


def interval_levels(quantiles: Sequence[float]) -> list[int]:
    """Nominal coverage in percent of each symmetric interval, e.g. [80, 90]."""
    return [round(c * 100) for c in interval_pairs(quantiles)]


def _scores(rows: pd.DataFrame, quantiles: tuple[float, ...]) -> dict[str, float]:
    y = rows["y_true"].to_numpy(dtype=float)
    up = (y > 0).astype(float)
    p_up = rows["p_up"].to_numpy(dtype=float)
    median = rows[quantile_column(MEDIAN)].to_numpy(dtype=float)
    pinball = {
        f"pinball_{quantile_column(q)}": pinball_loss(y, rows[quantile_column(q)], q)
        for q in quantiles
    }
    scores: dict[str, float] = {
        "n": len(rows),
        "mae": mae(y, median),
        "rmse": rmse(y, median),
        "pinball_mean": float(np.mean(list(pinball.values()))),
        **pinball,
    }
    for c, (lo, hi) in interval_pairs(quantiles).items():
        lower, upper = rows[quantile_column(lo)], rows[quantile_column(hi)]
        scores[f"coverage_{round(c * 100)}"] = coverage(y, lower, upper)
    scores["brier"] = brier(up, p_up)
    scores["log_loss"] = log_loss(up, p_up)
    scores["directional_accuracy"] = directional_accuracy(y, p_up)
    return scores


def evaluate(predictions: pd.DataFrame, quantiles: Sequence[float], by: list[str]) -> pd.DataFrame:
    """One row of scores per group; rows whose ``y_true`` is unknown (live rows) are ignored.

    Columns: the ``by`` keys, n, mae and rmse of the median, pinball_mean, pinball_<q> per
    quantile, coverage_<level> per symmetric interval, brier, log_loss, directional_accuracy.
    """
    qs = check_quantiles(quantiles)
    if MEDIAN not in qs:
        raise MetricsError(f"quantiles {list(qs)} lack the median 0.5 that mae and rmse score")
    needed = [*by, "y_true", *(quantile_column(q) for q in qs), "p_up"]
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise MetricsError(f"predictions lack columns {missing} needed for evaluation")
    known = predictions[np.isfinite(predictions["y_true"].to_numpy(dtype=float))]
    if known.empty:
        raise MetricsError("no predictions with known y_true to evaluate")
    if not by:
        return pd.DataFrame([_scores(known, qs)])
    records = []
    for keys, rows in known.groupby(by, sort=True, dropna=False):
        records.append(dict(zip(by, keys, strict=True)) | _scores(rows, qs))
    return pd.DataFrame(records)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def baseline_predictions(
    train: pd.DataFrame,
    test: pd.DataFrame,
    quantiles: Sequence[float],
    fold: int,
    horizon: str,
) -> pd.DataFrame:
    """Random walk, drift and climatology forecasts for ``test``, set from ``train`` only.

    random_walk: median 0, spread of the training returns around their median, p_up 0.5.
    drift: the same spread around the training mean, p_up = Phi(mean / std).
    climatology: the training returns' empirical quantiles, p_up = their share above 0.
    """
    qs = check_quantiles(quantiles)
    for name, frame, columns in (
        ("train", train, ["target_log_return"]),
        ("test", test, ["trade_date", "target_date", "target_log_return"]),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise MetricsError(f"{name} frame lacks columns {missing} needed for baselines")
    y = train["target_log_return"].to_numpy(dtype=float)
    y = y[np.isfinite(y)]
    if len(y) < 2:
        raise MetricsError(
            f"fold {fold}: {len(y)} training rows with a known target; baselines need at least 2"
        )
    empirical = np.quantile(y, qs)
    spread = empirical - np.median(y)
    mean, std = float(np.mean(y)), float(np.std(y, ddof=1))
    drift_up = _normal_cdf(mean / std) if std > 0 else 0.5 + 0.5 * float(np.sign(mean))
    specs = {
        "random_walk": (spread, 0.5),
        "drift": (mean + spread, drift_up),
        "climatology": (empirical, float(np.mean(y > 0))),
    }
    parts = []
    for model, (values, p_up) in specs.items():
        part = pd.DataFrame(
            {
                "trade_date": test["trade_date"].to_numpy(),
                "target_date": test["target_date"].to_numpy(),
                "fold": np.full(len(test), fold, dtype=np.int64),
                "model": model,
                "model_version": model,
                "horizon": horizon,
                "y_true": test["target_log_return"].to_numpy(dtype=float),
            }
        )
        for q, value in zip(qs, values, strict=True):
            part[quantile_column(q)] = float(value)
        part["p_up"] = float(p_up)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


_SKILL_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("pinball_mean", "mean pinball loss", True),
    ("mae", "MAE of the median", True),
    ("brier", "Brier score", True),
    ("directional_accuracy", "directional accuracy", False),
)
_BASELINE_LABELS = {
    "random_walk": "the random walk",
    "drift": "the drift baseline",
    "climatology": "climatology",
}


def _metric_row(metrics: pd.DataFrame, model: str) -> pd.Series:
    rows = metrics[metrics["model"] == model]
    if len(rows) != 1:
        raise MetricsError(
            f"expected one metrics row for model {model!r}, found {len(rows)}; pass the overall "
            f"metrics (evaluate(..., by=['model'])) for a single horizon"
        )
    return rows.iloc[0]


def skill_summary(metrics: pd.DataFrame, model: str, baseline: str = "random_walk") -> list[str]:
    """Plain-English sentences saying whether ``model`` beats ``baseline``, metric by metric.

    A tie or a worse score reads "does NOT beat": a model earns "beats" only by being better.
    """
    if "model" not in metrics.columns:
        raise MetricsError("metrics lack a 'model' column; use evaluate(..., by=['model'])")
    ours, theirs = _metric_row(metrics, model), _metric_row(metrics, baseline)
    label = _BASELINE_LABELS.get(baseline, f"the {baseline} baseline")
    lines = []
    for column, name, lower_is_better in _SKILL_METRICS:
        if column not in metrics.columns:
            continue
        a, b = float(ours[column]), float(theirs[column])
        if not (math.isfinite(a) and math.isfinite(b)):
            lines.append(f"{model} cannot be compared with {label} on {name} (missing value).")
            continue
        better = a < b if lower_is_better else a > b
        if column == "directional_accuracy":
            values = f"{a:.1%} vs {b:.1%}"
        else:
            values = f"{a:.4f} vs {b:.4f}"
        verdict = "beats" if better else "does NOT beat"
        lines.append(f"{model} {verdict} {label} on {name} ({values}).")
    return lines
