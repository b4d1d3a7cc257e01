"""Walk-forward backtest steps: fit one fold, and the live forecast.

Both take the exported training frame and a settings object and return frames (and the
fitted model); the jobs in ``zlflow.jobs.models`` read and write the files, so Snakemake
runs one job per (model, fold) and reruns only what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zlflow.calibrate import uncalibrated
from zlflow.codeversion import code_version
from zlflow.explain import LIVE_FOLD, contributions_long, weights_long
from zlflow.export import feature_columns
from zlflow.folds import fold_rows
from zlflow.forecast import ForecastSettings, calibrated_backtest, priced
from zlflow.models import get_model
from zlflow.models.base import ForecastModel, dated_features, quantile_column


def read_training(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The exported training frame and its feature columns."""
    frame = pd.read_parquet(path)
    for column in ("trade_date", "target_date"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    frame = frame.sort_values("trade_date").reset_index(drop=True)
    return frame, feature_columns(list(frame.columns))


def model_version(
    model: str, params: Mapping[str, Any], settings: Mapping[str, Any], data_sha: str
) -> str:
    """A version that changes with the model's parameters, settings, code and data."""
    payload = json.dumps(
        {
            "model": model,
            "params": params,
            "settings": settings,
            "data": data_sha,
            "code": code_version(model),
        },
        sort_keys=True,
        default=str,
    )
    return f"{model}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def prediction_frame(
    rows: pd.DataFrame,
    quantiles: Sequence[float],
    predicted: np.ndarray,
    p_up: np.ndarray,
    *,
    fold: int,
    model: str,
    horizon: str,
    version: str,
) -> pd.DataFrame:
    """Predictions in the shared schema (the calibration and metrics modules read it)."""
    out = pd.DataFrame(
        {
            "trade_date": rows["trade_date"].to_numpy(),
            "target_date": rows["target_date"].to_numpy(),
            "fold": np.int64(fold),
            "model": model,
            "model_version": version,
            "horizon": horizon,
            "y_true": rows["target_log_return"].to_numpy(dtype=float),
            "close": rows["close"].to_numpy(dtype=float),
            "regime": rows["regime"].astype(str).to_numpy(),
        }
    )
    for i, q in enumerate(quantiles):
        out[quantile_column(q)] = predicted[:, i]
    out["p_up"] = p_up
    return out


@dataclass(frozen=True)
class FitSettings:
    """One model fit: which model, at which horizon, with which parameters and seed.

    Every field but ``threads`` goes into the fitted model's ``model_version``. A fold job
    and the live job build it from their rule (``from_rule``), then add the tuned
    parameters read from ``best_params.json`` (``tuned``).
    """

    model: str
    horizon: str
    quantiles: tuple[float, ...]
    seed: int
    threads: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rule(
        cls, model: str, horizon: str, settings: Mapping[str, Any], threads: int
    ) -> FitSettings:
        """From the model rules' ``settings`` params value (quantiles and seed)."""
        return cls(model, horizon, tuple(settings["quantiles"]), int(settings["seed"]), threads)

    def tuned(self, best_params: str | Path) -> FitSettings:
        """With the parameters the tune job chose (its ``best_params.json``)."""
        return replace(self, params=json.loads(Path(best_params).read_text())["params"])

    def version(self, fold: int | str, data_sha: str) -> str:
        return model_version(
            self.model,
            dict(self.params),
            {
                "quantiles": list(self.quantiles),
                "seed": self.seed,
                "fold": fold,
                "horizon": self.horizon,
            },
            data_sha,
        )


@dataclass(frozen=True)
class LiveSettings:
    """The live forecast: a fit on every known target, calibrated after the backtest rows
    like them (``forecast``), its target date counted in ``exchange``'s sessions."""

    fit: FitSettings
    forecast: ForecastSettings
    exchange: str

    @classmethod
    def from_rule(
        cls,
        model: str,
        horizon: str,
        horizon_days: int,
        settings: Mapping[str, Any],
        calibration: Mapping[str, Any],
        exchange: str,
        threads: int,
    ) -> LiveSettings:
        """From the live rule's params, as the fold and calibrate rules build theirs."""
        return cls(
            FitSettings.from_rule(model, horizon, settings, threads),
            ForecastSettings.from_rule(horizon, horizon_days, settings, calibration),
            exchange,
        )


@dataclass(frozen=True)
class Fit:
    """A fitted model and what it says about its rows; the job saves and writes them."""

    model: ForecastModel
    version: str
    predictions: pd.DataFrame
    shap: pd.DataFrame
    interpretation: pd.DataFrame | None


def fit_and_explain(
    settings: FitSettings,
    known: pd.DataFrame,
    rows: pd.DataFrame,
    history: pd.DataFrame,
    features: list[str],
    *,
    fold: int,
    version: str,
    interpret: bool,
) -> Fit:
    """What a fold fit and the live forecast share: train on ``known`` rows (targets
    realised), then predict and explain ``rows`` with the feature rows before them
    (``history``) as the sequence models' look-back."""
    x_known, x_rows = dated_features(known, features), dated_features(rows, features)
    past = dated_features(history, features)
    fitted = get_model(settings.model)(
        list(settings.quantiles), settings.params, seed=settings.seed, threads=settings.threads
    )
    fitted.fit(x_known, known["target_log_return"].set_axis(x_known.index))
    predictions = prediction_frame(
        rows,
        list(settings.quantiles),
        fitted.predict_quantiles(x_rows, past),
        fitted.predict_p_up(x_rows, past),
        fold=fold,
        model=settings.model,
        horizon=settings.horizon,
        version=version,
    )
    labels = {"horizon": settings.horizon, "model_version": version}
    dates = rows["trade_date"]
    shap = contributions_long(fitted.explain(x_rows, past), dates, settings.model, fold)
    interpretation = None
    if interpret:
        weights = fitted.interpretation(x_rows, past)
        interpretation = weights_long(weights, dates, settings.model, fold).assign(**labels)
    return Fit(fitted, version, predictions, shap.assign(**labels), interpretation)


def fit_fold(
    frame: pd.DataFrame,
    features: list[str],
    fold: Mapping[str, Any],
    settings: FitSettings,
    data_sha: str,
) -> Fit:
    """Train on the fold's training rows, predict its test rows, explain the median.

    ``data_sha`` versions the model with the data it read (the fold's fingerprint).
    """
    train, test = fold_rows(frame, fold)
    number = int(fold["fold"])
    history = frame[frame["trade_date"] < fold["test_start"]]
    return fit_and_explain(
        settings,
        train,
        test,
        history,
        features,
        fold=number,
        version=settings.version(number, data_sha),
        interpret=True,
    )


def live_forecast(
    frame: pd.DataFrame,
    features: list[str],
    backtest: pd.DataFrame,
    settings: LiveSettings,
    data_sha: str,
) -> tuple[Fit, pd.DataFrame]:
    """Train on every row whose target is known; forecast from the latest feature date.

    ``backtest``: the walk-forward out-of-sample predictions. The live row is calibrated
    online after them, exactly like a backtest row: from the outcomes matured by its date,
    with the conformal and direction state carried to it. Returns the fit (its raw row and
    drivers) and the calibrated, priced forecast with its target date: the horizon's
    sessions of ``settings.exchange`` after the latest date.
    """
    fit = settings.fit
    known = frame[frame["target_date"].notna()]
    latest = frame.iloc[[-1]]
    result = fit_and_explain(
        fit,
        known,
        latest,
        frame.iloc[:-1],
        features,
        fold=LIVE_FOLD,
        version=fit.version("live", data_sha),
        interpret=False,
    )
    horizon = settings.forecast
    rows = pd.concat([uncalibrated(backtest), result.predictions], ignore_index=True)
    calibrated = calibrated_backtest(frame, rows.drop(columns="sigma"), horizon)
    live = calibrated[calibrated["fold"] == LIVE_FOLD]
    forecast = priced(live, list(horizon.quantiles), horizon.horizon_days)
    forecast["target_date"] = target_date(
        settings.exchange, pd.Timestamp(forecast["as_of_date"].iloc[0]), horizon.horizon_days
    )
    return result, forecast


def target_date(exchange: str, as_of: pd.Timestamp, horizon_days: int) -> pd.Timestamp:
    """The session ``horizon_days`` sessions of ``exchange`` after ``as_of``."""
    from zlflow.calendar import trading_days  # the exchange calendars cost 0.2 s

    sessions = trading_days(
        exchange, str(as_of.date()), str((as_of + pd.Timedelta(days=3 * horizon_days + 14)).date())
    )
    return sessions[sessions > as_of][horizon_days - 1]
