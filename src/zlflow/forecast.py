"""From out-of-sample predictions to calibrated forecasts: calibration, baselines, ensemble.

The domain side of ``rules/forecast.smk``'s calibrate, baselines and ensemble rules: each
function takes the exported training frame (for what is known at each date) and
predictions, with one settings object, and returns frames; the jobs in
``zlflow.jobs.models`` read and write the files. Every row is calibrated online, from
outcomes matured by its own date (``zlflow.calibrate``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from zlflow.baselines import BASELINE_MODELS, fold_baselines, known_climatology
from zlflow.calibrate import CalibrationSettings, calibrate_online
from zlflow.ensemble import EnsembleError, combine
from zlflow.errors import ZlflowError
from zlflow.explain import LIVE_FOLD
from zlflow.models.base import quantile_column
from zlflow.volatility import ewma_sigma

log = logging.getLogger("zlflow")


@dataclass(frozen=True)
class ForecastSettings:
    """One horizon's forecasts: its length in sessions, its quantiles and how they are
    calibrated. The settings of the calibrate and baselines jobs, and part of the
    ensemble's and the live forecast's."""

    horizon: str
    horizon_days: int
    quantiles: tuple[float, ...]
    calibration: CalibrationSettings

    @classmethod
    def from_rule(
        cls,
        horizon: str,
        horizon_days: int,
        settings: Mapping[str, Any],
        calibration: Mapping[str, Any],
    ) -> ForecastSettings:
        """From the rules' params: ``settings`` (quantiles) and ``calibration`` (config)."""
        return cls(
            horizon,
            int(horizon_days),
            tuple(settings["quantiles"]),
            CalibrationSettings.from_config(calibration),
        )


@dataclass(frozen=True)
class EnsembleSettings:
    """The ensemble job's settings: its members, the weights' window, its horizon."""

    forecast: ForecastSettings
    members: tuple[str, ...]
    window: int

    @classmethod
    def from_rule(
        cls,
        forecast: ForecastSettings,
        ensemble: Mapping[str, Any],
        members: Sequence[str],
    ) -> EnsembleSettings:
        """From the horizon's settings and the rule's ``ensemble`` (config) and members."""
        return cls(forecast, tuple(members), int(ensemble["window"]))


@dataclass(frozen=True)
class Ensemble:
    """The combined forecast: its calibrated backtest rows and live row, and the members'
    weights at each date (``weight_<member>`` columns of ``combined``)."""

    backtest: pd.DataFrame
    forecast: pd.DataFrame
    combined: pd.DataFrame


def calibration_context(
    predictions: pd.DataFrame, frame: pd.DataFrame, horizon_days: int
) -> pd.DataFrame:
    """What online calibration reads beside the predictions, known at each trade date:
    the volatility forecast ``sigma`` and the climatology ``p_up_climatology``."""
    context = pd.concat([ewma_sigma(frame, horizon_days), known_climatology(frame)], axis=1)
    dates = pd.DatetimeIndex(pd.to_datetime(predictions["trade_date"]))
    values = context.reindex(dates)
    missing = values.isna().any(axis=1).to_numpy()
    if missing.any():
        raise ZlflowError(
            f"no volatility forecast or climatology for {dates[missing][0].date()}: the date "
            f"is not in the export, or no outcome had matured by it"
        )
    return predictions.assign(
        sigma=values["sigma"].to_numpy(), p_up_climatology=values["p_up_climatology"].to_numpy()
    )


def priced(forecast: pd.DataFrame, quantiles: Sequence[float], horizon_days: int) -> pd.DataFrame:
    """Live rows with their horizon, as-of date and quantiles as prices (cents/lb)."""
    out = forecast.reset_index(drop=True)
    out["horizon_days"] = horizon_days
    close = out["close"].to_numpy(dtype=float)
    for q in quantiles:
        column = quantile_column(q)
        out[f"price_{column}"] = close * np.exp(out[column].to_numpy(dtype=float))
    out["as_of_date"] = out["trade_date"]
    return out


def calibrated_backtest(
    frame: pd.DataFrame, predictions: pd.DataFrame, settings: ForecastSettings
) -> pd.DataFrame:
    """A model's fold predictions, every row calibrated from outcomes matured by its date."""
    return calibrate_online(
        calibration_context(predictions, frame, settings.horizon_days),
        list(settings.quantiles),
        settings.calibration,
    )


def calibrated_baselines(
    frame: pd.DataFrame, folds: pd.DataFrame, settings: ForecastSettings
) -> pd.DataFrame:
    """The naive and GARCH baselines for every fold and today, calibrated like a model.

    Only their intervals: a baseline's ``p_up`` is its definition (the random walk stays a
    coin, climatology the training share of rises).
    """
    quantiles = list(settings.quantiles)
    raw = fold_baselines(frame, folds, quantiles, settings.horizon, settings.horizon_days)
    return calibrate_online(
        calibration_context(raw, frame, settings.horizon_days),
        quantiles,
        replace(settings.calibration, shrink_direction=False),
    )


def ensemble_forecast(forecasts: pd.DataFrame, settings: EnsembleSettings) -> Ensemble:
    """Combine the members' calibrated forecasts (backtest and live) and calibrate the result.

    ``forecasts``: calibrated rows of models and baselines, members or not. The live target
    date is the one every member model's live row carries (worked out from the exchange
    calendar); baselines carry none.
    """
    horizon = settings.forecast
    quantiles = list(horizon.quantiles)
    chosen = forecasts[forecasts["model"].isin(settings.members)]
    absent = sorted(set(settings.members) - set(chosen["model"]))
    if absent:
        raise EnsembleError(f"ensemble members {absent} have no forecasts")
    combined = combine(
        chosen, quantiles, window=settings.window, min_history=horizon.calibration.min_history
    )
    for model, dropped in combined.attrs.get("dropped_dates", {}).items():
        log.warning("%s: %d dates not shared by every member are left out", model, dropped)
    # The members' bands are calibrated already and their average holds its coverage; a
    # second conformal layer measured worse (see docs/forecasts.md), so only p_up is
    # calibrated here.
    direction_only = replace(horizon.calibration, intervals=False)
    calibrated = calibrate_online(combined, quantiles, direction_only)
    live = calibrated["fold"] == LIVE_FOLD
    current = priced(calibrated[live], quantiles, horizon.horizon_days)
    models = chosen[(chosen["fold"] == LIVE_FOLD) & ~chosen["model"].isin(BASELINE_MODELS)]
    targets = models["target_date"].unique()
    if len(targets) != 1 or pd.isna(targets[0]) or len(current) != 1:
        raise EnsembleError(
            f"members' live forecasts disagree: {len(current)} live rows, targets {targets}"
        )
    current["target_date"] = pd.Timestamp(targets[0])
    return Ensemble(calibrated[~live], current, combined)
