"""Calibrate forecasts online, from outcomes known at the forecast date only.

Rows are processed in trade-date order. An outcome counts only once its target date is on or
before the date of the forecast being calibrated (h-session delayed feedback), so nothing a
row is calibrated with was unknown when it was made; fold boundaries play no part.

Intervals: conformalized quantile regression (CQR, Romano et al. 2019) with conformity scores
normalised by a volatility forecast known at t (``sigma``), so an offset learned in a calm
period widens with volatility, and adaptive conformal inference (ACI, Gibbs & Candès 2021):
each level's miss rate target moves by ``gamma`` (alpha - miss) as each outcome matures, so
coverage that drifts below nominal pulls the bands out again.

Direction: ``p_up`` is shrunk towards the climatological frequency of a rise known at t
(``p_up_climatology`` when the rows carry it: the share of rises over the whole history
matured by t; otherwise the share among the matured rows) by the weight that minimised the
Brier score on matured outcomes (0 = climatology, 1 = the model), so a model that has shown
no skill falls back to climatology instead of losing to it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from zlflow.errors import ZlflowError
from zlflow.models.base import MEDIAN, check_quantiles, quantile_column

# (n + 1) * c is computed in floating point; 200 * 0.8 must not round up to 161.
_CEIL_TOLERANCE = 1e-9
# Extra columns the calibrator adds beside the raw_<col> copies.
STATE_COLUMNS: tuple[str, ...] = (
    "calibrated",
    "sigma",
    "p_up_climatology",
    "direction_weight",
    "direction_skill",
    "matured",
)


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
    score instead, so short histories still give a finite (if less certain) interval. A
    coverage at or below 0 gives the smallest score.
    """
    s = np.asarray(scores, dtype=float)
    n = len(s)
    if n == 0:
        raise CalibrationError("no conformity scores: the history has no rows with known y_true")
    k = min(max(math.ceil((n + 1) * coverage - _CEIL_TOLERANCE), 1), n) - 1
    return float(np.partition(s, k)[k])


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


@dataclass(frozen=True)
class CalibrationSettings:
    """How intervals and directions are calibrated (config key ``calibration``).

    ``normalise``: divide conformity scores by the volatility forecast ``sigma``.
    ``gamma``: ACI step (0 = plain conformal at the nominal level).
    ``window``: the most recent matured scores the conformal quantile is taken from
    (None = all). ``shrink_direction``: False leaves ``p_up`` as the model gave it.
    ``intervals``: False leaves the quantiles as given (the ensemble's members are
    calibrated already; see ``zlflow.ensemble``).
    """

    min_history: int = 50
    normalise: bool = True
    gamma: float = 0.005
    window: int | None = 500
    shrink_direction: bool = True
    intervals: bool = True

    @classmethod
    def from_config(cls, calibration: Mapping[str, Any]) -> CalibrationSettings:
        intervals = dict(calibration.get("intervals") or {})
        direction = dict(calibration.get("direction") or {})
        settings = cls(
            min_history=int(calibration.get("min_history", cls.min_history)),
            normalise=bool(intervals.get("normalise", cls.normalise)),
            gamma=float(intervals.get("gamma", cls.gamma)),
            window=intervals.get("window", cls.window),
            shrink_direction=direction.get("method", "shrink") == "shrink",
        )
        if settings.min_history < 1:
            raise CalibrationError(f"min_history must be at least 1, got {settings.min_history}")
        if settings.gamma < 0:
            raise CalibrationError(f"calibration gamma must be >= 0, got {settings.gamma}")
        if settings.window is not None and settings.window < settings.min_history:
            raise CalibrationError(
                f"calibration window {settings.window} is shorter than min_history "
                f"{settings.min_history}"
            )
        return settings


@dataclass
class _State:
    """What the calibrator knows at a date: matured scores, ACI levels, direction pairs."""

    levels: dict[float, tuple[int, int]]
    scores: dict[float, list[float]] = field(default_factory=dict)
    alpha: dict[float, float] = field(default_factory=dict)
    # Running sums over matured (p_raw, up, climatology c) rows: count, sum p, sum p^2,
    # sum up, sum p*up, sum (p - c)(up - c), sum (p - c)^2.
    sums: np.ndarray = field(default_factory=lambda: np.zeros(7))
    # Brier of the calibrated p_up and of the climatology issued with it, for matured rows
    # whose direction was calibrated: the evidence for (or against) direction skill.
    brier: np.ndarray = field(default_factory=lambda: np.zeros(3))  # count, model, climatology
    misses: dict[float, list[float]] = field(default_factory=dict)


def _check_frame(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    needed = ["trade_date", "target_date", "y_true", *columns, "p_up", "sigma"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise CalibrationError(
            f"predictions lack columns {missing}; expected the out-of-sample prediction schema "
            f"(trade_date, target_date, y_true, quantile columns, p_up) and a volatility "
            f"forecast 'sigma' known at trade_date"
        )
    already = [f"raw_{c}" for c in [*columns, "p_up"] if f"raw_{c}" in frame.columns]
    if already:
        raise CalibrationError(
            f"frame already has {already}: it was calibrated before; pass raw predictions"
        )
    sigma = frame["sigma"].to_numpy(dtype=float)
    if not (np.isfinite(sigma) & (sigma > 0)).all():
        raise CalibrationError("sigma (the volatility forecast) must be finite and positive")
    target = pd.to_datetime(frame["target_date"])
    trade = pd.to_datetime(frame["trade_date"])
    early = target.notna() & (target <= trade)
    if early.any():
        raise CalibrationError(
            f"{int(early.sum())} rows have a target_date on or before their trade_date "
            f"(first {trade[early].iloc[0].date()}); outcomes must lie after the forecast"
        )


def _calibrate_group(
    group: pd.DataFrame, quantiles: tuple[float, ...], settings: CalibrationSettings
) -> tuple[pd.DataFrame, dict[str, Any]]:
    columns = [quantile_column(q) for q in quantiles]
    group = group.sort_values("trade_date", kind="stable")
    trade = pd.to_datetime(group["trade_date"]).to_numpy()
    target = pd.to_datetime(group["target_date"]).to_numpy()
    y = group["y_true"].to_numpy(dtype=float)
    raw = group[columns].to_numpy(dtype=float)
    p_raw = group["p_up"].to_numpy(dtype=float)
    sigma = group["sigma"].to_numpy(dtype=float) if settings.normalise else np.ones(len(group))
    pairs = {
        c: (quantiles.index(lo), quantiles.index(hi))
        for c, (lo, hi) in interval_pairs(quantiles).items()
    }
    state = _State(levels=pairs)
    for c in pairs:
        state.scores[c], state.alpha[c], state.misses[c] = [], 1.0 - c, []

    n = len(group)
    out = raw.copy()
    p_out = p_raw.copy()
    calibrated = np.zeros(n, dtype=bool)
    given = "p_up_climatology" in group.columns
    climatology = (
        group["p_up_climatology"].to_numpy(dtype=float).copy() if given else np.full(n, np.nan)
    )
    if given and not np.isfinite(climatology).all():
        raise CalibrationError("p_up_climatology must be a probability on every row")
    weight = np.full(n, np.nan)
    skill = np.full(n, np.nan)
    matured_count = np.zeros(n, dtype=np.int64)
    # Rows in order of their target date; NaT (live rows) never mature.
    maturity = np.argsort(np.where(pd.isna(target), np.datetime64("NaT"), target), kind="stable")
    maturity = [i for i in maturity if not pd.isna(target[i]) and np.isfinite(y[i])]
    pointer = 0

    for j in range(n):
        while pointer < len(maturity) and target[maturity[pointer]] <= trade[j]:
            i = maturity[pointer]
            pointer += 1
            for c, (lo, hi) in pairs.items():
                score = max(raw[i, lo] - y[i], y[i] - raw[i, hi]) / sigma[i]
                state.scores[c].append(score)
                if calibrated[i]:
                    miss = float(y[i] < out[i, lo] or y[i] > out[i, hi])
                    state.misses[c].append(miss)
                    state.alpha[c] += settings.gamma * ((1.0 - c) - miss)
            if np.isfinite(p_raw[i]):
                outcome = float(y[i] > 0)
                prior = climatology[i] if given else 0.0
                state.sums += (
                    1.0,
                    p_raw[i],
                    p_raw[i] ** 2,
                    outcome,
                    p_raw[i] * outcome,
                    (p_raw[i] - prior) * (outcome - prior),
                    (p_raw[i] - prior) ** 2,
                )
                if np.isfinite(climatology[i]) and (not given or calibrated[i]):
                    state.brier += (1.0, (p_out[i] - outcome) ** 2, (climatology[i] - outcome) ** 2)
        matured = int(state.sums[0])
        matured_count[j] = matured
        if matured < settings.min_history:
            continue
        calibrated[j] = True
        for c, (lo, hi) in pairs.items() if settings.intervals else ():
            recent = state.scores[c][-settings.window :] if settings.window else state.scores[c]
            offset = conformal_offset(np.asarray(recent), 1.0 - state.alpha[c]) * sigma[j]
            out[j, lo] = raw[j, lo] - offset
            out[j, hi] = raw[j, hi] + offset
        m, sum_p, sum_p2, sum_up, sum_pu, sum_cov, sum_var = state.sums
        if given:
            clim = climatology[j]
            covariance, variance = sum_cov, sum_var
        else:
            clim = sum_up / m
            climatology[j] = clim
            covariance = sum_pu - clim * sum_p - clim * sum_up + m * clim**2
            variance = sum_p2 - 2.0 * clim * sum_p + m * clim**2
        if settings.shrink_direction and np.isfinite(p_raw[j]):
            # Least squares of (up - clim) on (p - clim) over matured rows, kept in [0, 1].
            w = float(np.clip(covariance / variance, 0.0, 1.0)) if variance > 1e-12 else 0.0
            weight[j] = w
            p_out[j] = clim + w * (p_raw[j] - clim)
        if state.brier[0] >= settings.min_history:
            skill[j] = 1.0 - state.brier[1] / max(state.brier[2], 1e-12)

    out = sort_quantiles(out, quantiles)
    result = group.copy()
    for k, column in enumerate(columns):
        result[f"raw_{column}"] = raw[:, k]
        result[column] = out[:, k]
    result["raw_p_up"] = p_raw
    result["p_up"] = p_out
    result["calibrated"] = calibrated
    result["p_up_climatology"] = climatology
    result["direction_weight"] = weight
    result["direction_skill"] = skill
    result["matured"] = matured_count
    summary = {
        "settings": asdict(settings),
        "matured_outcomes": int(state.sums[0]),
        "alpha": {f"{c:g}": a for c, a in state.alpha.items()},
        "recent_miss_rate": {
            f"{c:g}": float(np.mean(m[-250:])) if m else None for c, m in state.misses.items()
        },
        "direction_weight": None if np.isnan(weight[-1]) else float(weight[-1]),
        "direction_skill": None if np.isnan(skill[-1]) else float(skill[-1]),
    }
    return result, summary


def calibrate_online(
    predictions: pd.DataFrame,
    quantiles: Sequence[float],
    settings: CalibrationSettings,
    by: Sequence[str] = ("model", "horizon"),
) -> pd.DataFrame:
    """Calibrate every row from the outcomes matured by its trade date, per ``by`` group.

    Rows with an unknown ``y_true`` or ``target_date`` (live rows) are calibrated like any
    other and never feed back. Adds ``raw_<col>`` copies and the STATE_COLUMNS; the last
    row's calibration state goes, as JSON, into ``calibration``. Rows keep their order.
    """
    qs = check_quantiles(quantiles)
    columns = [quantile_column(q) for q in qs]
    _check_frame(predictions, columns)
    missing = [c for c in by if c not in predictions.columns]
    if missing:
        raise CalibrationError(f"predictions lack the grouping columns {missing}")
    if predictions.empty:
        raise CalibrationError("no predictions to calibrate")
    frame = predictions.reset_index(drop=True)
    parts = []
    for _, group in frame.groupby(list(by), sort=False, dropna=False):
        part, summary = _calibrate_group(group, qs, settings)
        part["calibration"] = json.dumps(summary, default=str)
        parts.append(part)
    out = pd.concat(parts).sort_index()
    out.index = predictions.index
    return out


def uncalibrated(frame: pd.DataFrame) -> pd.DataFrame:
    """The raw predictions behind a calibrated frame (to calibrate them again with more rows)."""
    raw = [c for c in frame.columns if c.startswith("raw_")]
    restored = frame.drop(
        columns=[c.removeprefix("raw_") for c in raw]
        + [c for c in (*STATE_COLUMNS, "calibration") if c not in ("sigma",)],
        errors="ignore",
    )
    return restored.rename(columns={c: c.removeprefix("raw_") for c in raw})
