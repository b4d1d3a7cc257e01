"""Modelling jobs: folds, tuning, per-fold fits, calibration, baselines, metrics, forecast."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from zlflow.backtest import FitSettings, LiveSettings, fit_fold, live_forecast, read_training
from zlflow.export import fingerprint
from zlflow.folds import FoldSpec, fold_table, read_folds
from zlflow.forecast import (
    EnsembleSettings,
    ForecastSettings,
    calibrated_backtest,
    calibrated_baselines,
    ensemble_forecast,
)
from zlflow.jobs import connect
from zlflow.loading import load_frame, write_parquet_atomic
from zlflow.markers import object_marker, write_json_atomic
from zlflow.metrics import interval_levels

if TYPE_CHECKING:  # optuna and scipy load only in the tune and metrics jobs
    from zlflow.scorecard import ScoreSettings
    from zlflow.tuning import TuneSettings

log = logging.getLogger("zlflow")


def _data_sha(path: str | Path) -> str:
    return fingerprint(pq.read_table(path))


def run_folds(data: str, spec: FoldSpec, horizon_days: int, table: str, sidecar: str) -> None:
    frame, _ = read_training(data)
    folds, summary = fold_table(frame, spec, horizon_days)
    Path(table).parent.mkdir(parents=True, exist_ok=True)
    folds.to_csv(table + ".tmp", index=False, date_format="%Y-%m-%d")
    Path(table + ".tmp").replace(table)
    write_json_atomic(sidecar, summary)
    log.info(
        "%d folds, first test %s, last test end %s",
        len(folds),
        folds["test_start"].iloc[0].date(),
        folds["test_end"].iloc[-1].date(),
    )
    log.info("fold table:\n%s", folds.to_string(index=False))


def run_load_folds(
    warehouse: Mapping[str, Any],
    tables: Sequence[str],
    horizons: Sequence[str],
    snapshot: str,
    marker: str,
) -> None:
    frames = [read_folds(t).assign(horizon=h) for t, h in zip(tables, horizons, strict=True)]
    folds = pd.concat(frames, ignore_index=True)
    for column in ("train_start", "train_end", "test_start", "test_end"):
        folds[column] = folds[column].dt.date
    with connect(warehouse) as wh:
        info = load_frame(wh, "training", "walk_forward_folds", folds, snapshot)
        log.info("%s.%s: %d folds", info.dataset, info.name, info.rows)
        write_json_atomic(marker, object_marker(info, wh.backend))


def run_tune(data: str, folds: str, settings: TuneSettings, storage: str, output: str) -> None:
    from zlflow.tuning import tune

    frame, features = read_training(data)
    cutoff = pd.Timestamp(read_folds(folds)["test_start"].min())
    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    result = tune(frame, features, cutoff, settings, storage)
    log.info("best mean pinball %.6f with %s", result["best_value"], result["params"])
    write_json_atomic(output, result)


def run_fit_fold(
    data: str,
    folds: str,
    fold: int,
    settings: FitSettings,
    best_params: str,
    fold_fingerprint: str,
    model_dir: str,
    predictions: str,
    shap: str,
    interpretation: str,
) -> None:
    frame, features = read_training(data)
    table = read_folds(folds)
    row = table[table["fold"] == fold]
    if row.empty:
        raise KeyError(f"fold {fold} is not in {folds}")
    fit = fit_fold(
        frame, features, row.iloc[0].to_dict(), settings.tuned(best_params), fold_fingerprint
    )
    fit.model.save(Path(model_dir))
    write_parquet_atomic(fit.predictions, predictions)
    write_parquet_atomic(fit.shap, shap)
    assert fit.interpretation is not None
    write_parquet_atomic(fit.interpretation, interpretation)
    log.info("fold %s: %d test rows, model %s", fold, len(fit.predictions), fit.version)


def run_calibrate(
    data: str, predictions: Sequence[str], settings: ForecastSettings, output: str
) -> None:
    frame, _ = read_training(data)
    oos = pd.concat([pd.read_parquet(p) for p in predictions], ignore_index=True)
    calibrated = calibrated_backtest(frame, oos, settings)
    write_parquet_atomic(calibrated, output)
    _log_calibration(calibrated)


def _log_calibration(calibrated: pd.DataFrame) -> None:
    for model, rows in calibrated.groupby("model"):
        log.info(
            "%s: %d rows over %d folds, %d calibrated from outcomes known at their date; "
            "state at the last row: %s",
            model,
            len(rows),
            rows["fold"].nunique(),
            int(rows["calibrated"].sum()),
            rows.sort_values("trade_date")["calibration"].iloc[-1],
        )


def run_baselines(data: str, folds: str, settings: ForecastSettings, output: str) -> None:
    frame, _ = read_training(data)
    calibrated = calibrated_baselines(frame, read_folds(folds), settings)
    write_parquet_atomic(calibrated, output)
    _log_calibration(calibrated)


def run_ensemble(
    forecasts: Sequence[str], settings: EnsembleSettings, oos: str, forecast: str
) -> None:
    """Combine members' calibrated forecasts (backtest and live) and calibrate the result."""
    frames = [pd.read_parquet(p) for p in forecasts]
    result = ensemble_forecast(pd.concat(frames, ignore_index=True), settings)
    write_parquet_atomic(result.backtest, oos)
    write_parquet_atomic(result.forecast, forecast)
    _log_calibration(pd.concat([result.backtest, result.forecast]))
    weights = [c for c in result.combined.columns if c.startswith("weight_")]
    log.info(
        "member weights at the live date: %s",
        result.combined[weights].iloc[-1].round(3).to_dict(),
    )


def run_live_forecast(
    data: str,
    history: str,
    settings: LiveSettings,
    best_params: str,
    model_dir: str,
    forecast: str,
    shap: str,
) -> None:
    frame, features = read_training(data)
    live = replace(settings, fit=settings.fit.tuned(best_params))
    fit, result = live_forecast(frame, features, pd.read_parquet(history), live, _data_sha(data))
    fit.model.save(Path(model_dir))
    write_parquet_atomic(result, forecast)
    write_parquet_atomic(fit.shap, shap)
    row = result.iloc[0]
    log.info(
        "live %s %s forecast from %s to %s: median %.4f, p_up %.3f (model %.3f, direction "
        "skill on earlier outcomes %s), price median %.2f",
        live.fit.model,
        live.fit.horizon,
        row["as_of_date"].date(),
        row["target_date"].date(),
        row["q50"],
        row["p_up"],
        row["raw_p_up"],
        "n/a" if pd.isna(row["direction_skill"]) else f"{row['direction_skill']:+.3f}",
        row["price_q50"],
    )


def run_forecast_table(forecasts: Sequence[str], parquet: str, json_path: str) -> None:
    table = pd.concat([pd.read_parquet(p) for p in forecasts], ignore_index=True)
    write_parquet_atomic(table, parquet)
    keep = [c for c in table.columns if not c.startswith("raw_") and c != "calibration"]
    records = json.loads(table[keep].to_json(orient="records", date_format="iso"))
    write_json_atomic(json_path, {"forecasts": records})


def run_metrics(
    forecasts: Sequence[str], settings: ScoreSettings, outputs: Mapping[str, str]
) -> None:
    """Scores, verdicts with significance, reliability and PIT tables, and the summary."""
    from zlflow.scorecard import scorecard

    oos = pd.concat([pd.read_parquet(p) for p in forecasts], ignore_index=True)
    card = scorecard(oos, settings)
    for name, table in card.tables().items():
        table.to_csv(outputs[name], index=False)
    Path(outputs["summary"]).write_text("\n".join(card.summary) + "\n")
    log.info("\n%s", "\n".join(card.summary))
    log.info("coverage levels %s", interval_levels(settings.quantiles))
