"""Forecast scores: point, quantile (CRPS), interval (Winkler), coverage and direction.

Every model, baseline and the ensemble share one prediction schema, so one function scores
them all; per-row losses feed the significance tests in ``zlflow.significance``. CRPS comes
from the quantiles (the quantile CRPS: twice the mean pinball loss over the configured
levels) and intervals are scored by the Winkler interval score. Both are computed here in
numpy, with the operations of scoringrules' numpy backend, and tests/test_metrics.py checks
them against scoringrules bit for bit: importing scoringrules compiles its numba functions
(7.5 s on 2 cores), and every Snakemake job is a fresh process, so each metrics and ensemble
job paid that for two one-line formulas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from zlflow.calibrate import interval_pairs
from zlflow.errors import ZlflowError
from zlflow.models.base import MEDIAN, check_quantiles, quantile_column

LOG_LOSS_CLIP = 1e-12
RELIABILITY_BINS = 10


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


def direction_hits(y: object, p_up: object) -> np.ndarray:
    """1 where ``p_up`` called the sign of ``y`` (> 0.5 for up), 0.5 where p_up = 0.5 (no call).

    A coin that always says 0.5 scores exactly 50%, not its share of falls.
    """
    y_, p_ = _arrays(y, p_up)
    return np.where(p_ == 0.5, 0.5, ((p_ > 0.5) == (y_ > 0)).astype(float))


def directional_accuracy(y: object, p_up: object) -> float:
    """Mean of ``direction_hits``: the share of correct calls, a no-call counting half."""
    return float(np.mean(direction_hits(y, p_up)))


def crps_rows(y: object, values: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Per-row quantile CRPS (NaN where y is unknown) of rows x quantiles predictions."""
    y_ = np.asarray(y, dtype=float).ravel()
    q = np.asarray(values, dtype=float)
    if q.shape != (len(y_), len(quantiles)):
        raise MetricsError(f"quantile values of shape {q.shape} do not match {len(y_)} rows")
    out = np.full(len(y_), np.nan)
    ok = np.isfinite(y_)
    if ok.any():
        obs, fct = y_[ok][:, None], q[ok]
        alpha = np.asarray(quantiles, dtype=float)
        below = (fct <= obs) * alpha * (obs - fct)
        above = (fct > obs) * (1 - alpha) * (fct - obs)
        out[ok] = 2 * np.mean(below + above, axis=-1)
    return out


def interval_score_rows(y: object, lo: object, hi: object, coverage_level: float) -> np.ndarray:
    """Winkler interval score per row: width plus 2/alpha times the distance outside."""
    y_, low, high = _arrays(y, lo, hi)
    alpha = 1.0 - coverage_level
    score = (high - low) + (y_ < low) * (2 / alpha) * (low - y_)
    score += (y_ > high) * (2 / alpha) * (y_ - high)
    return np.asarray(score, dtype=float)


def brier_decomposition(
    y_up: object, p: object, bins: int = RELIABILITY_BINS
) -> tuple[float, float, float]:
    """Murphy's reliability, resolution and uncertainty over equal-width probability bins.

    Brier = reliability - resolution + uncertainty (exactly when p is constant per bin): low
    reliability is calibrated, high resolution tells outcomes apart.
    """
    y_, p_ = _arrays(y_up, p)
    base = float(np.mean(y_))
    index = np.minimum((p_ * bins).astype(int), bins - 1)
    reliability = resolution = 0.0
    for b in np.unique(index):
        rows = index == b
        weight = rows.mean()
        observed = float(np.mean(y_[rows]))
        reliability += weight * (float(np.mean(p_[rows])) - observed) ** 2
        resolution += weight * (observed - base) ** 2
    return float(reliability), float(resolution), base * (1.0 - base)


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
    values = rows[[quantile_column(q) for q in quantiles]].to_numpy(dtype=float)
    scores: dict[str, float] = {
        "n": len(rows),
        "mae": mae(y, median),
        "rmse": rmse(y, median),
        "crps": float(np.mean(crps_rows(y, values, quantiles))),
        "pinball_mean": float(np.mean(list(pinball.values()))),
        **pinball,
    }
    for c, (lo, hi) in interval_pairs(quantiles).items():
        lower, upper = rows[quantile_column(lo)], rows[quantile_column(hi)]
        scores[f"coverage_{round(c * 100)}"] = coverage(y, lower, upper)
        scores[f"interval_score_{round(c * 100)}"] = float(
            np.mean(interval_score_rows(y, lower, upper, c))
        )
    scores["brier"] = brier(up, p_up)
    reliability, resolution, uncertainty = brier_decomposition(up, p_up)
    scores["brier_reliability"] = reliability
    scores["brier_resolution"] = resolution
    scores["brier_uncertainty"] = uncertainty
    scores["log_loss"] = log_loss(up, p_up)
    scores["directional_accuracy"] = directional_accuracy(y, p_up)
    return scores


def evaluate(predictions: pd.DataFrame, quantiles: Sequence[float], by: list[str]) -> pd.DataFrame:
    """One row of scores per group; rows whose ``y_true`` is unknown (live rows) are ignored.

    Columns: the ``by`` keys, n, mae and rmse of the median, crps, pinball_mean, pinball_<q>
    per quantile, coverage_<level> and interval_score_<level> per symmetric interval, brier
    with its reliability/resolution/uncertainty, log_loss, directional_accuracy.
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
