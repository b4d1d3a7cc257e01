"""Naive baselines, so every model is judged against doing nothing clever.

random_walk: median 0 with the empirical spread of the training returns; p_up 0.5 (a coin).
drift: the same spread around the training mean; p_up = Phi(mean / sd).
climatology: the training returns' empirical quantiles; p_up = their share above 0.
garch: zero-mean GARCH(1,1) Student-t bands from daily returns up to the forecast date;
p_up 0.5. Each is set from the fold's training rows (GARCH: daily returns before the test
window) only, like the models it is compared with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from zlflow.errors import ZlflowError
from zlflow.folds import fold_rows
from zlflow.models.base import check_quantiles, quantile_column
from zlflow.volatility import daily_returns, garch_quantiles

BASELINE_MODELS: tuple[str, ...] = ("random_walk", "drift", "climatology", "garch")


class BaselineError(ZlflowError):
    """Baselines cannot be set from the rows given."""


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def baseline_predictions(
    train: pd.DataFrame,
    test: pd.DataFrame,
    quantiles: Sequence[float],
    fold: int,
    horizon: str,
    garch: np.ndarray | None = None,
) -> pd.DataFrame:
    """Baseline forecasts for ``test``, set from ``train`` only (GARCH quantiles passed in)."""
    qs = check_quantiles(quantiles)
    for name, frame, columns in (
        ("train", train, ["target_log_return"]),
        ("test", test, ["trade_date", "target_date", "target_log_return"]),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise BaselineError(f"{name} frame lacks columns {missing} needed for baselines")
    y = train["target_log_return"].to_numpy(dtype=float)
    y = y[np.isfinite(y)]
    if len(y) < 2:
        raise BaselineError(
            f"fold {fold}: {len(y)} training rows with a known target; baselines need at least 2"
        )
    empirical = np.quantile(y, qs)
    spread = empirical - np.median(y)
    mean, std = float(np.mean(y)), float(np.std(y, ddof=1))
    drift_up = _normal_cdf(mean / std) if std > 0 else 0.5 + 0.5 * float(np.sign(mean))
    n = len(test)
    specs: dict[str, tuple[np.ndarray, float]] = {
        "random_walk": (np.tile(spread, (n, 1)), 0.5),
        "drift": (np.tile(mean + spread, (n, 1)), drift_up),
        "climatology": (np.tile(empirical, (n, 1)), float(np.mean(y > 0))),
    }
    if garch is not None:
        specs["garch"] = (np.asarray(garch, dtype=float), 0.5)
    parts = []
    for model, (values, p_up) in specs.items():
        part = pd.DataFrame(
            {
                "trade_date": test["trade_date"].to_numpy(),
                "target_date": test["target_date"].to_numpy(),
                "fold": np.full(n, fold, dtype=np.int64),
                "model": model,
                "model_version": model,
                "horizon": horizon,
                "y_true": test["target_log_return"].to_numpy(dtype=float),
            }
        )
        for k, q in enumerate(qs):
            part[quantile_column(q)] = values[:, k]
        part["p_up"] = float(p_up)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def known_climatology(frame: pd.DataFrame) -> pd.Series:
    """By trade date, the share of rises among every target matured by that date.

    The climatology a forecaster knows at t: the whole history of outcomes whose target
    date is on or before t (NaN before the first one matures).
    """
    known = frame[frame["target_date"].notna()].sort_values("target_date")
    matured = pd.DatetimeIndex(known["target_date"]).to_numpy()
    ups = np.cumsum(known["target_log_return"].to_numpy(dtype=float) > 0)
    dates = pd.DatetimeIndex(frame["trade_date"]).sort_values()
    count = np.searchsorted(matured, dates.to_numpy(), side="right")
    share = np.where(count > 0, ups[np.maximum(count, 1) - 1] / np.maximum(count, 1), np.nan)
    return pd.Series(share, index=dates, name="p_up_climatology")


def fold_baselines(
    frame: pd.DataFrame,
    folds: pd.DataFrame,
    quantiles: Sequence[float],
    horizon: str,
    horizon_days: int,
) -> pd.DataFrame:
    """Baselines for every fold and for the latest row (fold -1, trained on known targets)."""
    returns = daily_returns(frame)
    parts = []
    for fold in folds.to_dict("records"):
        train, test = fold_rows(frame, fold)
        garch = garch_quantiles(
            returns,
            pd.Timestamp(fold["test_start"]),
            list(test["trade_date"]),
            horizon_days,
            quantiles,
        )
        parts.append(
            baseline_predictions(train, test, quantiles, int(fold["fold"]), horizon, garch)
        )
    known = frame[frame["target_date"].notna()]
    latest = frame.iloc[[-1]]
    as_of = pd.Timestamp(latest["trade_date"].iloc[0])
    garch = garch_quantiles(returns, as_of + pd.Timedelta(days=1), [as_of], horizon_days, quantiles)
    parts.append(baseline_predictions(known, latest, quantiles, -1, horizon, garch))
    extra = frame[["trade_date", "close", "regime"]].astype({"regime": str})
    out = pd.concat(parts, ignore_index=True)
    return out.merge(extra, on="trade_date", how="left", validate="m:1")
