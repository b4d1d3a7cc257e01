"""Volatility forecasts known at the forecast date: EWMA for calibration, GARCH as a baseline.

Both read the roll-adjusted daily log return ``ret_1d`` of the export, whose value at t is
the close-to-close move into t: known at t.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from zlflow.errors import ZlflowError

RETURN_COLUMN = "ret_1d"
# RiskMetrics' daily decay; the half-life is about 11 sessions.
EWMA_LAMBDA = 0.94
# A daily variance floor (0.01% a day), so a run of unchanged closes gives a small positive
# sigma rather than zero.
VARIANCE_FLOOR = 1e-8
# arch optimises better on percent returns.
_SCALE = 100.0


class VolatilityError(ZlflowError):
    """A volatility forecast cannot be made from the rows given."""


def daily_returns(frame: pd.DataFrame) -> pd.Series:
    """``ret_1d`` by trade date, in trade-date order, with missing values as 0 (no move)."""
    if RETURN_COLUMN not in frame.columns:
        raise VolatilityError(
            f"the training frame lacks {RETURN_COLUMN!r}, the daily return volatility is read from"
        )
    ordered = frame.sort_values("trade_date")
    returns = ordered[RETURN_COLUMN].astype(float).fillna(0.0)
    return pd.Series(returns.to_numpy(), index=pd.DatetimeIndex(ordered["trade_date"]))


def ewma_sigma(frame: pd.DataFrame, horizon_days: int, lam: float = EWMA_LAMBDA) -> pd.Series:
    """sqrt(h) times the EWMA daily volatility, by trade date, from returns up to that date.

    ``adjust=True`` weights only the returns seen so far, so early dates use no later data.
    """
    returns = daily_returns(frame)
    variance = (returns**2).ewm(alpha=1.0 - lam, adjust=True).mean()
    return np.sqrt(horizon_days * variance.clip(lower=VARIANCE_FLOOR)).rename("sigma")


def garch_quantiles(
    returns: pd.Series,
    fit_end: pd.Timestamp,
    origins: Sequence[pd.Timestamp],
    horizon_days: int,
    quantiles: Sequence[float],
) -> np.ndarray:
    """Quantiles of the h-session log return from a zero-mean GARCH(1,1) with Student-t errors.

    Parameters are fitted on returns dated before ``fit_end``; the variance at each origin is
    filtered through returns up to that origin with those parameters, and the h-step variance
    is the sum of the 1..h-step forecasts. The sum of h t-distributed days is treated as a
    scaled Student-t with the fitted degrees of freedom (heavier-tailed than the truth for
    long horizons, which errs towards wide bands).
    """
    series = returns.sort_index() * _SCALE
    fit_rows = int((series.index < fit_end).sum())
    if fit_rows < 250:
        raise VolatilityError(f"GARCH needs 250 daily returns before {fit_end.date()}")
    from arch import arch_model  # here, not at the top: importing arch costs every job ~1 s

    last = pd.Timestamp(max(origins))
    data = series[series.index <= last]
    model = arch_model(data, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(last_obs=fit_rows, disp="off", show_warning=False)
        forecast = fit.forecast(horizon=horizon_days, start=fit_rows - 1, reindex=False)
    variance = forecast.variance.sum(axis=1)
    variance.index = pd.DatetimeIndex(variance.index)
    wanted = pd.DatetimeIndex(origins)
    missing = wanted.difference(variance.index)
    if len(missing):
        raise VolatilityError(f"no GARCH forecast for {len(missing)} origins, first {missing[0]}")
    nu = float(fit.params["nu"])
    from scipy import stats  # 0.6 s to import, for the GARCH baseline only

    unit = stats.t.ppf(np.asarray(quantiles, dtype=float), nu) * np.sqrt((nu - 2.0) / nu)
    sd = np.sqrt(variance.loc[wanted].to_numpy()) / _SCALE
    return sd[:, None] * unit[None, :]
