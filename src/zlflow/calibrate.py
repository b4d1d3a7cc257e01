"""Calibrate out-of-sample forecasts on earlier folds only, so reported coverage is honest.

Intervals use conformalized quantile regression (CQR, Romano, Patterson and Candès 2019):
each symmetric quantile pair is widened (or narrowed) by a conformal offset learned from the
scores of earlier predictions. The direction probability ``p_up`` is recalibrated by Platt
scaling or isotonic regression. A calibrator never sees the rows it is applied to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from zlflow.errors import ZlflowError
from zlflow.models.base import MEDIAN, check_quantiles, quantile_column

DirectionMethod = Literal["platt", "isotonic"]
DIRECTION_METHODS: tuple[str, ...] = ("platt", "isotonic")
P_CLIP = 1e-6
# (n + 1) * c is computed in floating point; 200 * 0.8 must not round up to 161.
_CEIL_TOLERANCE = 1e-9


class CalibrationError(ZlflowError):
    """Predictions cannot be calibrated as asked (the message names what to fix)."""


def interval_pairs(quantiles: Sequence[float]) -> dict[float, tuple[float, float]]:
    """Coverage level -> (lower, upper) quantile for each symmetric pair present.

    ``[0.05, 0.1, 0.5, 0.9, 0.95]`` gives ``{0.8: (0.1, 0.9), 0.9: (0.05, 0.95)}``; quantiles
    without a mirror image (e.g. 0.25 without 0.75) form no interval.
    """
    qs = [float(q) for q in quantiles]
    pairs: dict[float, tuple[float, float]] = {}
    for lo in sorted(q for q in qs if q < MEDIAN):
        hi = next((q for q in qs if math.isclose(q, 1.0 - lo, abs_tol=1e-9)), None)
        if hi is not None:
            pairs[round(hi - lo, 10)] = (lo, hi)
    return dict(sorted(pairs.items()))


def conformal_offset(scores: np.ndarray, coverage: float) -> float:
    """The ceil((n+1)c)/n empirical quantile of the conformity scores.

    When ceil((n+1)c) exceeds n the exact conformal quantile is infinite; we use the largest
    score instead, so short histories still give a finite (if less certain) interval.
    """
    s = np.sort(np.asarray(scores, dtype=float))
    n = len(s)
    if n == 0:
        raise CalibrationError("no conformity scores: the history has no rows with known y_true")
    k = math.ceil((n + 1) * coverage - _CEIL_TOLERANCE)
    return float(s[min(max(k, 1), n) - 1])


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(p, dtype=float), P_CLIP, 1.0 - P_CLIP)
    return np.log(clipped / (1.0 - clipped))


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CalibrationError(
            f"{what} lacks columns {missing}; expected the out-of-sample prediction schema "
            f"(trade_date, target_date, fold, model, horizon, y_true, quantile columns, p_up)"
        )


def sort_quantiles(values: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Rows of quantile predictions made monotone without moving the median.

    Lower quantiles are capped at the median and upper ones floored at it, then each side is
    sorted, so quantiles never cross and the intervals stay nested.
    """
    out = np.array(values, dtype=float, copy=True)
    qs = list(quantiles)
    if MEDIAN not in qs:
        return np.sort(out, axis=1)
    m = qs.index(MEDIAN)
    median = out[:, [m]]
    out[:, :m] = np.sort(np.minimum(out[:, :m], median), axis=1)
    out[:, m + 1 :] = np.sort(np.maximum(out[:, m + 1 :], median), axis=1)
    return out


@dataclass
class Calibrator:
    """Interval offsets and a direction map fitted on earlier out-of-sample predictions."""

    quantiles: tuple[float, ...]
    offsets: dict[float, float] = field(default_factory=dict)
    direction_method: str = "identity"
    requested_method: str = "platt"
    direction_model: LogisticRegression | IsotonicRegression | None = None
    n_history: int = 0
    interval_note: str | None = None
    direction_note: str | None = None

    @classmethod
    def fit(
        cls,
        history: pd.DataFrame,
        quantiles: Sequence[float],
        method: DirectionMethod | str = "platt",
        min_history: int = 50,
    ) -> Calibrator:
        """Fit from earlier predictions; rows with unknown ``y_true`` (live rows) are ignored.

        Intervals are calibrated from any non-empty history. The direction map needs
        ``min_history`` rows and both outcomes; otherwise ``p_up`` stays as predicted and
        ``direction_note`` says why.
        """
        qs = check_quantiles(quantiles)
        if method not in DIRECTION_METHODS:
            raise CalibrationError(
                f"unknown direction calibration method {method!r}; use one of {DIRECTION_METHODS}"
            )
        if min_history < 1:
            raise CalibrationError(f"min_history must be at least 1, got {min_history}")
        columns = [quantile_column(q) for q in qs]
        _require_columns(history, ["y_true", *columns, "p_up"], "calibration history")
        known = history[np.isfinite(history["y_true"].to_numpy(dtype=float))]
        calibrator = cls(quantiles=qs, n_history=len(known), requested_method=str(method))

        y = known["y_true"].to_numpy(dtype=float)
        pairs = interval_pairs(qs)
        if not pairs:
            calibrator.interval_note = "no symmetric quantile pair to calibrate"
        elif len(known) == 0:
            calibrator.interval_note = "no earlier predictions with known y_true"
        else:
            for coverage, (lo, hi) in pairs.items():
                q_lo = known[quantile_column(lo)].to_numpy(dtype=float)
                q_hi = known[quantile_column(hi)].to_numpy(dtype=float)
                scores = np.maximum(q_lo - y, y - q_hi)
                calibrator.offsets[coverage] = conformal_offset(
                    scores[np.isfinite(scores)], coverage
                )

        p = known["p_up"].to_numpy(dtype=float)
        ok = np.isfinite(p)
        up = (y[ok] > 0).astype(int)
        if ok.sum() < min_history:
            calibrator.direction_note = (
                f"{int(ok.sum())} history rows with p_up and y_true, fewer than "
                f"min_history={min_history}"
            )
        elif len(np.unique(up)) < 2:
            side = "> 0" if up[0] else "<= 0"
            calibrator.direction_note = f"history has only one outcome (every y_true {side})"
        elif method == "platt":
            model = LogisticRegression()  # the default mild L2 keeps separable fits finite
            calibrator.direction_model = model.fit(_logit(p[ok]).reshape(-1, 1), up)
            calibrator.direction_method = "platt"
        else:
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            calibrator.direction_model = iso.fit(p[ok], up)
            calibrator.direction_method = "isotonic"
        return calibrator

    @property
    def is_calibrated(self) -> bool:
        """Whether applying this calibrator changes anything (intervals or direction)."""
        return bool(self.offsets) or self.direction_model is not None

    def calibrate_p_up(self, p_up: np.ndarray) -> np.ndarray:
        """Calibrated probabilities; NaN inputs stay NaN."""
        p = np.asarray(p_up, dtype=float)
        if self.direction_model is None:
            return p.copy()
        out = np.full_like(p, np.nan)
        ok = np.isfinite(p)
        if ok.any():
            if isinstance(self.direction_model, LogisticRegression):
                features = _logit(p[ok]).reshape(-1, 1)
                out[ok] = self.direction_model.predict_proba(features)[:, 1]
            else:
                out[ok] = self.direction_model.predict(p[ok])
        return out

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy with calibrated quantiles and ``p_up``, raw values kept as ``raw_<col>``."""
        columns = [quantile_column(q) for q in self.quantiles]
        _require_columns(frame, [*columns, "p_up"], "frame to calibrate")
        already = [f"raw_{c}" for c in [*columns, "p_up"] if f"raw_{c}" in frame.columns]
        if already:
            raise CalibrationError(
                f"frame already has {already}: it was calibrated before; pass raw predictions"
            )
        out = frame.copy()
        raw = out[columns].to_numpy(dtype=float)
        calibrated = raw.copy()
        for coverage, offset in self.offsets.items():
            lo, hi = interval_pairs(self.quantiles)[coverage]
            calibrated[:, self.quantiles.index(lo)] -= offset
            calibrated[:, self.quantiles.index(hi)] += offset
        calibrated = sort_quantiles(calibrated, self.quantiles)
        for i, column in enumerate(columns):
            out[f"raw_{column}"] = raw[:, i]
            out[column] = calibrated[:, i]
        out["raw_p_up"] = out["p_up"].to_numpy(dtype=float)
        out["p_up"] = self.calibrate_p_up(out["raw_p_up"].to_numpy())
        out["calibrated"] = self.is_calibrated
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record of what was fitted and why any part was left uncalibrated."""
        pairs = interval_pairs(self.quantiles)
        direction: dict[str, Any] = {
            "method": self.direction_method,
            "requested": self.requested_method,
            "note": self.direction_note,
        }
        if isinstance(self.direction_model, LogisticRegression):
            direction["coef"] = float(self.direction_model.coef_[0, 0])
            direction["intercept"] = float(self.direction_model.intercept_[0])
        elif isinstance(self.direction_model, IsotonicRegression):
            direction["thresholds"] = len(self.direction_model.X_thresholds_)
        return {
            "n_history": int(self.n_history),
            "quantiles": list(self.quantiles),
            "intervals": {
                f"{coverage:g}": {
                    "lower": pairs[coverage][0],
                    "upper": pairs[coverage][1],
                    "offset": offset,
                }
                for coverage, offset in self.offsets.items()
            },
            "interval_note": self.interval_note,
            "direction": direction,
        }


def calibrate_walk_forward(
    predictions: pd.DataFrame,
    quantiles: Sequence[float],
    method: DirectionMethod | str = "platt",
    min_history: int = 50,
) -> pd.DataFrame:
    """Calibrate each fold on the earlier folds of the same model and horizon.

    Fold k is calibrated from folds < k only, never from its own rows; the first fold has no
    history and passes through with ``calibrated`` False. Rows keep their input order.
    """
    qs = check_quantiles(quantiles)
    columns = [quantile_column(q) for q in qs]
    _require_columns(
        predictions, ["fold", "model", "horizon", "y_true", *columns, "p_up"], "predictions"
    )
    if predictions.empty:
        raise CalibrationError("no out-of-sample predictions to calibrate")
    if (predictions["fold"] < 0).any():
        raise CalibrationError(
            "predictions include live rows (fold < 0); calibrate those with "
            "Calibrator.fit(<all walk-forward folds>).apply(<live rows>)"
        )
    index = predictions.index
    frame = predictions.reset_index(drop=True)
    parts = []
    for _, group in frame.groupby(["model", "horizon"], sort=False, dropna=False):
        for fold in sorted(group["fold"].unique()):
            rows = group[group["fold"] == fold]
            history = group[group["fold"] < fold]
            calibrator = Calibrator.fit(history, qs, method=method, min_history=min_history)
            parts.append(calibrator.apply(rows))
    out = pd.concat(parts).sort_index()
    out["calibrated"] = out["calibrated"].astype(bool)
    out.index = index
    return out


def uncalibrated(frame: pd.DataFrame) -> pd.DataFrame:
    """The raw predictions behind a calibrated frame (to fit a new calibrator on them)."""
    raw = [c for c in frame.columns if c.startswith("raw_")]
    restored = frame.drop(
        columns=[c.removeprefix("raw_") for c in raw] + ["calibrated"], errors="ignore"
    )
    return restored.rename(columns={c: c.removeprefix("raw_") for c in raw})
