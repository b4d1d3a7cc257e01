"""Modelling jobs: folds, tuning, per-fold fits, calibration, baselines, metrics, forecast."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from zlflow.backtest import (
    LIVE_FOLD,
    FitSettings,
    LiveSettings,
    calibration_context,
    fit_fold,
    live_forecast,
    priced,
    read_training,
)
from zlflow.baselines import BASELINE_MODELS, fold_baselines
from zlflow.calibrate import CalibrationSettings, calibrate_online
from zlflow.ensemble import ENSEMBLE, combine
from zlflow.export import fingerprint
from zlflow.folds import (
    FoldSpec,
    make_folds,
    read_folds,
    rows_fingerprint,
)
from zlflow.jobs import connect
from zlflow.loading import load_frame, write_parquet_atomic
from zlflow.markers import object_marker, write_json_atomic
from zlflow.metrics import evaluate, interval_levels
from zlflow.models import get_model
from zlflow.tuning import tune
from zlflow.verdicts import pit_table, reliability_table, summary_lines, verdict_table

log = logging.getLogger("zlflow")


def _data_sha(path: str | Path) -> str:
    return fingerprint(pq.read_table(path))


def run_folds(
    data: str, settings: Mapping[str, Any], horizon_days: int, table: str, sidecar: str
) -> None:
    frame, _ = read_training(data)
    folds = make_folds(frame, FoldSpec.from_config(settings), horizon_days)
    cutoff = folds["test_start"].min()
    tuning = frame[frame["target_date"].notna() & (frame["target_date"] < cutoff)]
    Path(table).parent.mkdir(parents=True, exist_ok=True)
    folds.to_csv(table + ".tmp", index=False, date_format="%Y-%m-%d")
    Path(table + ".tmp").replace(table)
    write_json_atomic(
        sidecar,
        {
            "folds": len(folds),
            "tuning_cutoff": str(cutoff.date()),
            "tuning_fingerprint": rows_fingerprint(tuning),
        },
    )
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


def run_tune(
    data: str,
    folds: str,
    model: str,
    settings: Mapping[str, Any],
    tuning: Mapping[str, Any],
    fixed: Mapping[str, Any],
    horizon_days: int,
    storage: str,
    threads: int,
    output: str,
) -> None:
    frame, features = read_training(data)
    cutoff = read_folds(folds)["test_start"].min()
    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    model_cls = get_model(model)
    result = tune(
        model_cls,
        frame,
        features,
        settings["quantiles"],
        pd.Timestamp(cutoff),
        storage=storage,
        n_trials=tuning["n_trials"],
        timeout_s=tuning.get("timeout_s"),
        seed=settings["seed"],
        validation_sessions=tuning["validation_sessions"],
        threads=threads,
        fixed=dict(fixed) | model_cls.horizon_params(horizon_days),
    )
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
    data: str,
    predictions: Sequence[str],
    settings: Mapping[str, Any],
    calibration: Mapping[str, Any],
    horizon_days: int,
    output: str,
) -> None:
    frame, _ = read_training(data)
    oos = pd.concat([pd.read_parquet(p) for p in predictions], ignore_index=True)
    calibrated = calibrate_online(
        calibration_context(oos, frame, horizon_days),
        settings["quantiles"],
        CalibrationSettings.from_config(calibration),
    )
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


def run_baselines(
    data: str,
    folds: str,
    horizon: str,
    horizon_days: int,
    settings: Mapping[str, Any],
    calibration: Mapping[str, Any],
    output: str,
) -> None:
    frame, _ = read_training(data)
    raw = fold_baselines(frame, read_folds(folds), settings["quantiles"], horizon, horizon_days)
    # Intervals are calibrated like the models'; a baseline's p_up is its definition (the
    # random walk stays a coin, climatology the training share of rises).
    calibrated = calibrate_online(
        calibration_context(raw, frame, horizon_days),
        settings["quantiles"],
        replace(CalibrationSettings.from_config(calibration), shrink_direction=False),
    )
    write_parquet_atomic(calibrated, output)
    _log_calibration(calibrated)


def run_ensemble(
    models: Sequence[str],
    live: Sequence[str],
    baselines: str,
    members: Sequence[str],
    horizon_days: int,
    settings: Mapping[str, Any],
    calibration: Mapping[str, Any],
    ensemble: Mapping[str, Any],
    oos: str,
    forecast: str,
) -> None:
    """Combine members' calibrated forecasts (backtest and live) and calibrate the result."""
    quantiles = settings["quantiles"]
    model_rows = [pd.read_parquet(p) for p in [*models, *live]]
    frames = [*model_rows, pd.read_parquet(baselines)]
    everything = pd.concat(frames, ignore_index=True)
    chosen = everything[everything["model"].isin(members)]
    absent = sorted(set(members) - set(chosen["model"]))
    if absent:
        raise ValueError(f"ensemble members {absent} have no forecasts")
    combined = combine(
        chosen, quantiles, window=ensemble["window"], min_history=calibration["min_history"]
    )
    for model, dropped in combined.attrs.get("dropped_dates", {}).items():
        log.warning("%s: %d dates not shared by every member are left out", model, dropped)
    # The members' bands are calibrated already and their average holds its coverage; a
    # second conformal layer measured worse (see docs/forecasts.md), so only p_up is
    # calibrated here.
    direction_only = replace(CalibrationSettings.from_config(calibration), intervals=False)
    calibrated = calibrate_online(combined, quantiles, direction_only)
    backtest = calibrated[calibrated["fold"] != LIVE_FOLD]
    current = priced(calibrated[calibrated["fold"] == LIVE_FOLD], quantiles, horizon_days)
    # The live target date is the members' (worked out from the exchange calendar).
    targets = pd.concat([pd.read_parquet(p) for p in live])["target_date"].unique()
    if len(targets) != 1 or len(current) != 1:
        raise ValueError(
            f"members' live forecasts disagree: {len(current)} live rows, targets {targets}"
        )
    current["target_date"] = pd.Timestamp(targets[0])
    write_parquet_atomic(backtest, oos)
    write_parquet_atomic(current, forecast)
    _log_calibration(calibrated)
    weights = [c for c in combined.columns if c.startswith("weight_")]
    log.info("member weights at the live date: %s", combined[weights].iloc[-1].round(3).to_dict())


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
    models: Sequence[str],
    baselines: str,
    horizon: str,
    horizon_days: int,
    settings: Mapping[str, Any],
    outputs: Mapping[str, str],
) -> None:
    """Scores, verdicts with significance, reliability and PIT tables, and the summary."""
    quantiles = settings["quantiles"]
    oos = pd.concat([pd.read_parquet(p) for p in [*models, baselines]], ignore_index=True)
    oos = oos[oos["fold"] != LIVE_FOLD]
    # The first fold is where calibration learns (its outcomes mature during it): score the
    # later folds, where every model and baseline is calibrated from earlier outcomes.
    scored = oos[oos["fold"] >= 1]
    uncalibrated_rows = scored[~scored["calibrated"].astype(bool)]
    if not uncalibrated_rows.empty:
        log.warning(
            "%d scored rows are not calibrated (too few matured outcomes): %s",
            len(uncalibrated_rows),
            uncalibrated_rows.groupby("model").size().to_dict(),
        )
    evaluate(scored, quantiles, ["model"]).to_csv(outputs["overall"], index=False)
    evaluate(oos, quantiles, ["model", "fold"]).to_csv(outputs["by_fold"], index=False)
    evaluate(scored, quantiles, ["model", "regime"]).to_csv(outputs["by_regime"], index=False)
    verdicts = verdict_table(scored, quantiles, horizon_days, seed=settings["seed"])
    verdicts.to_csv(outputs["verdicts"], index=False)
    reliability_table(scored).to_csv(outputs["reliability"], index=False)
    pit_table(scored, quantiles).to_csv(outputs["pit"], index=False)
    ranked = (
        [ENSEMBLE]
        + sorted(set(scored["model"]) - {ENSEMBLE} - set(BASELINE_MODELS))
        + [m for m in BASELINE_MODELS if m not in ("random_walk", "climatology")]
    )
    lines = [
        f"Horizon {horizon} ({horizon_days} sessions): out-of-sample folds 1.."
        f"{int(scored['fold'].max())}, {scored['trade_date'].nunique()} forecast dates. Every "
        f"forecast was calibrated only from outcomes known on its date.",
        "Verdict rule: 'beats'/'loses' only with a Diebold-Mariano p < 0.05 (Newey-West "
        f"variance, lag {int(verdicts['hac_lag'].max())}); coverage 'holds' when its 95% "
        "block-bootstrap interval contains the nominal level.",
        "",
        *summary_lines(
            verdicts, horizon, horizon_days, [m for m in ranked if m in set(verdicts["model"])]
        ),
    ]
    Path(outputs["summary"]).write_text("\n".join(lines) + "\n")
    log.info("\n%s", "\n".join(lines))
    log.info("coverage levels %s", interval_levels(quantiles))
