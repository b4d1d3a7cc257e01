"""Walk-forward backtest steps: fit one fold, and the live forecast.

Each function reads the exported training frame and writes plain files, so Snakemake
runs one job per (model, fold) and reruns only what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zlflow.baselines import known_climatology
from zlflow.calibrate import CalibrationSettings, calibrate_online, uncalibrated
from zlflow.codeversion import code_version
from zlflow.errors import ZlflowError
from zlflow.explain import contributions_long, weights_long
from zlflow.export import feature_columns
from zlflow.folds import fold_rows
from zlflow.loading import write_parquet_atomic
from zlflow.models import get_model
from zlflow.models.base import dated_features, quantile_column
from zlflow.volatility import ewma_sigma

LIVE_FOLD = -1


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


def fit_fold(
    frame: pd.DataFrame,
    features: list[str],
    fold: Mapping[str, Any],
    *,
    model: str,
    horizon: str,
    quantiles: Sequence[float],
    params: Mapping[str, Any],
    seed: int,
    threads: int,
    model_dir: str | Path,
    predictions_path: str | Path,
    shap_path: str | Path,
    data_sha: str,
    interpretation_path: str | Path | None = None,
) -> dict[str, Any]:
    """Train on the fold's training rows, predict its test rows, explain the median."""
    train, test = fold_rows(frame, fold)
    history = dated_features(frame[frame["trade_date"] < fold["test_start"]], features)
    x_train, x_test = dated_features(train, features), dated_features(test, features)
    version = model_version(
        model,
        params,
        {"quantiles": list(quantiles), "seed": seed, "fold": int(fold["fold"]), "horizon": horizon},
        data_sha,
    )
    fitted = get_model(model)(quantiles, params, seed=seed, threads=threads)
    fitted.fit(x_train, train["target_log_return"].set_axis(x_train.index))
    fitted.save(Path(model_dir))
    predictions = prediction_frame(
        test,
        quantiles,
        fitted.predict_quantiles(x_test, history),
        fitted.predict_p_up(x_test, history),
        fold=int(fold["fold"]),
        model=model,
        horizon=horizon,
        version=version,
    )
    write_parquet_atomic(predictions, predictions_path)
    wide = fitted.explain(x_test, history)
    write_parquet_atomic(
        contributions_long(wide, test["trade_date"], model, int(fold["fold"])).assign(
            horizon=horizon, model_version=version
        ),
        shap_path,
    )
    if interpretation_path is not None:
        weights = weights_long(
            fitted.interpretation(x_test, history), test["trade_date"], model, int(fold["fold"])
        )
        write_parquet_atomic(
            weights.assign(horizon=horizon, model_version=version), interpretation_path
        )
    return {
        "fold": int(fold["fold"]),
        "train_rows": len(train),
        "test_rows": len(test),
        "model_version": version,
    }


def live_forecast(
    frame: pd.DataFrame,
    features: list[str],
    history: pd.DataFrame,
    *,
    model: str,
    horizon: str,
    horizon_days: int,
    quantiles: Sequence[float],
    params: Mapping[str, Any],
    seed: int,
    threads: int,
    calibration: Mapping[str, Any],
    model_dir: str | Path,
    data_sha: str,
) -> pd.DataFrame:
    """Train on every row whose target is known; forecast from the latest feature date.

    ``history``: the walk-forward out-of-sample predictions. The live row is calibrated
    online after them, exactly like a backtest row: from the outcomes matured by its date,
    with the conformal and direction state carried to it.
    """
    known = frame[frame["target_date"].notna()]
    latest = frame.iloc[[-1]]
    x_known, x_latest = dated_features(known, features), dated_features(latest, features)
    earlier = dated_features(frame.iloc[:-1], features)
    version = model_version(
        model,
        params,
        {"quantiles": list(quantiles), "seed": seed, "fold": "live", "horizon": horizon},
        data_sha,
    )
    fitted = get_model(model)(quantiles, params, seed=seed, threads=threads)
    fitted.fit(x_known, known["target_log_return"].set_axis(x_known.index))
    fitted.save(Path(model_dir))
    raw = prediction_frame(
        latest,
        quantiles,
        fitted.predict_quantiles(x_latest, earlier),
        fitted.predict_p_up(x_latest, earlier),
        fold=LIVE_FOLD,
        model=model,
        horizon=horizon,
        version=version,
    )
    rows = pd.concat([uncalibrated(history), raw], ignore_index=True)
    rows = calibration_context(rows.drop(columns="sigma"), frame, horizon_days)
    calibrated = calibrate_online(rows, quantiles, CalibrationSettings.from_config(calibration))
    return priced(calibrated[calibrated["fold"] == LIVE_FOLD], quantiles, horizon_days)


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
