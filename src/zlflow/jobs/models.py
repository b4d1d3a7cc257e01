"""Modelling jobs: folds, tuning, per-fold fits, calibration, baselines, metrics, forecast."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from zlflow import plots
from zlflow.backtest import fit_fold, fold_baselines, live_forecast, read_training
from zlflow.calendar import trading_days
from zlflow.calibrate import calibrate_walk_forward
from zlflow.explain import contributions_long
from zlflow.export import fingerprint
from zlflow.folds import (
    FoldSpec,
    carry_fingerprints,
    changed_dates,
    make_folds,
    rows_fingerprint,
)
from zlflow.jobs import connect
from zlflow.loading import load_frame, write_parquet_atomic
from zlflow.markers import object_marker, write_json_atomic
from zlflow.metrics import evaluate, interval_levels, skill_summary
from zlflow.models import get_model
from zlflow.models.base import dated_features
from zlflow.tuning import tune

log = logging.getLogger("zlflow")


def _data_sha(path: str | Path) -> str:
    return fingerprint(pq.read_table(path))


def read_folds(path: str | Path) -> pd.DataFrame:
    table = pd.read_csv(path)
    for column in ("train_start", "train_end", "test_start", "test_end"):
        table[column] = pd.to_datetime(table[column]).astype("datetime64[us]")
    return table


def run_folds(
    data: str, settings: Mapping[str, Any], horizon_days: int, table: str, sidecar: str
) -> None:
    frame, _ = read_training(data)
    folds = make_folds(frame, FoldSpec.from_config(settings), horizon_days)
    # The previous run's export and fingerprints, kept beside the outputs (not declared, so
    # Snakemake leaves them alone): folds whose rows did not change keep their fingerprint.
    state = Path(table).parent / ".state"
    previous = (
        read_training(state / "export.parquet")[0] if (state / "export.parquet").exists() else None
    )
    changed = changed_dates(frame, previous)
    old_table = (
        read_folds(state / "fold_table.csv") if (state / "fold_table.csv").exists() else None
    )
    folds = carry_fingerprints(folds, old_table, changed)
    cutoff = folds["test_start"].min()
    tuning = frame[frame["target_date"].notna() & (frame["target_date"] < cutoff)]
    tuning_fingerprint = rows_fingerprint(tuning)
    if changed is not None and (state / "fold_table.json").exists():
        old = json.loads((state / "fold_table.json").read_text())
        if old["tuning_cutoff"] == str(cutoff.date()) and not any(d < cutoff for d in changed):
            tuning_fingerprint = old["tuning_fingerprint"]
    log.info(
        "changed rows since the previous export: %s",
        "all (no previous export)" if changed is None else len(changed),
    )
    Path(table).parent.mkdir(parents=True, exist_ok=True)
    folds.to_csv(table + ".tmp", index=False, date_format="%Y-%m-%d")
    Path(table + ".tmp").replace(table)
    write_json_atomic(
        sidecar,
        {
            "folds": len(folds),
            "tuning_cutoff": str(cutoff.date()),
            "tuning_fingerprint": tuning_fingerprint,
        },
    )
    state.mkdir(exist_ok=True)
    for source, name in (
        (data, "export.parquet"),
        (table, "fold_table.csv"),
        (sidecar, "fold_table.json"),
    ):
        shutil.copyfile(source, state / f".{name}.tmp")
        (state / f".{name}.tmp").replace(state / name)
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
    params: str,
    model: str,
    horizon: str,
    fold: int,
    settings: Mapping[str, Any],
    fold_fingerprint: str,
    threads: int,
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
    best = json.loads(Path(params).read_text())["params"]
    summary = fit_fold(
        frame,
        features,
        row.iloc[0].to_dict(),
        model=model,
        horizon=horizon,
        quantiles=settings["quantiles"],
        params=best,
        seed=settings["seed"],
        threads=threads,
        model_dir=model_dir,
        predictions_path=predictions,
        shap_path=shap,
        data_sha=fold_fingerprint,
        interpretation_path=interpretation,
    )
    log.info("fold %s: %s", fold, summary)


def run_calibrate(
    predictions: Sequence[str],
    settings: Mapping[str, Any],
    calibration: Mapping[str, Any],
    output: str,
) -> None:
    oos = pd.concat([pd.read_parquet(p) for p in predictions], ignore_index=True)
    calibrated = calibrate_walk_forward(
        oos,
        settings["quantiles"],
        method=calibration["direction"],
        min_history=calibration["min_history"],
    )
    write_parquet_atomic(calibrated, output)
    log.info(
        "%d out-of-sample rows over %d folds calibrated from earlier folds",
        len(calibrated),
        calibrated["fold"].nunique(),
    )


def run_baselines(
    data: str, folds: str, horizon: str, settings: Mapping[str, Any], output: str
) -> None:
    frame, _ = read_training(data)
    baselines = fold_baselines(frame, read_folds(folds), settings["quantiles"], horizon)
    write_parquet_atomic(baselines, output)
    log.info("%d baseline rows for %s", len(baselines), sorted(baselines["model"].unique()))


def run_live_forecast(
    data: str,
    params: str,
    history: str,
    model: str,
    horizon: str,
    horizon_days: int,
    exchange: str,
    settings: Mapping[str, Any],
    calibration: Mapping[str, Any],
    threads: int,
    model_dir: str,
    forecast: str,
    shap: str,
) -> None:
    frame, features = read_training(data)
    best = json.loads(Path(params).read_text())["params"]
    oos = pd.read_parquet(history)
    history_rows = oos.assign(
        **{c.removeprefix("raw_"): oos[c] for c in oos if c.startswith("raw_")}
    )
    result = live_forecast(
        frame,
        features,
        history_rows,
        model=model,
        horizon=horizon,
        horizon_days=horizon_days,
        quantiles=settings["quantiles"],
        params=best,
        seed=settings["seed"],
        threads=threads,
        calibration=calibration,
        model_dir=model_dir,
        data_sha=_data_sha(data),
    )
    as_of = pd.Timestamp(result["as_of_date"].iloc[0])
    sessions = trading_days(
        exchange, str(as_of.date()), str((as_of + pd.Timedelta(days=3 * horizon_days + 14)).date())
    )
    result["target_date"] = sessions[sessions > as_of][horizon_days - 1]
    write_parquet_atomic(result, forecast)
    fitted = get_model(model).load(Path(model_dir))
    latest = frame.iloc[[-1]]
    write_parquet_atomic(
        contributions_long(
            fitted.explain(
                dated_features(latest, features), dated_features(frame.iloc[:-1], features)
            ),
            latest["trade_date"],
            model,
            -1,
        ).assign(horizon=horizon, model_version=result["model_version"].iloc[0]),
        shap,
    )
    row = result.iloc[0]
    log.info(
        "live %s %s forecast from %s to %s: median %.4f, p_up %.3f, price median %.2f",
        model,
        horizon,
        row["as_of_date"].date(),
        row["target_date"].date(),
        row["q50"],
        row["p_up"],
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
    settings: Mapping[str, Any],
    overall: str,
    by_fold: str,
    by_regime: str,
    summary: str,
) -> None:
    quantiles = settings["quantiles"]
    oos = pd.concat([pd.read_parquet(p) for p in [*models, baselines]], ignore_index=True)
    # Fold 0 has no earlier folds to calibrate on: score every model and baseline on the
    # folds where all of them are calibrated or need no calibration.
    scored = oos[oos["fold"] >= 1]
    evaluate(scored, quantiles, ["model"]).to_csv(overall, index=False)
    evaluate(oos, quantiles, ["model", "fold"]).to_csv(by_fold, index=False)
    evaluate(scored, quantiles, ["model", "regime"]).to_csv(by_regime, index=False)
    metrics = pd.read_csv(overall)
    lines = [
        f"Out-of-sample folds 1..{int(scored['fold'].max())} ({scored['trade_date'].nunique()} "
        f"test dates); intervals calibrated on earlier folds only."
    ]
    for model in sorted(set(metrics["model"]) - {"random_walk", "drift", "climatology"}):
        lines += skill_summary(metrics, model, "random_walk")
        lines += skill_summary(metrics, model, "climatology")
    Path(summary).write_text("\n".join(lines) + "\n")
    log.info("\n%s", "\n".join(lines))
    log.info("coverage levels %s", interval_levels(quantiles))


def run_plots(
    data: str,
    folds: str,
    metrics: str,
    by_fold: str,
    oos: Sequence[str],
    forecast: str,
    shap: Sequence[str],
    interpretation: Sequence[str],
    settings: Mapping[str, Any],
    outputs: Mapping[str, str],
) -> None:
    frame, _ = read_training(data)
    quantiles = settings["quantiles"]
    plots.plot_folds(frame, read_folds(folds), outputs["folds"])
    plots.plot_skill(pd.read_csv(metrics), outputs["skill"])
    plots.plot_coverage(pd.read_csv(by_fold), interval_levels(quantiles), outputs["coverage"])
    calibrated = pd.concat([pd.read_parquet(p) for p in oos], ignore_index=True)
    plots.plot_fan(frame, calibrated, pd.read_parquet(forecast), quantiles, outputs["fan"])
    drivers = pd.concat([pd.read_parquet(p) for p in shap], ignore_index=True)
    plots.plot_drivers_by_model(drivers, 15, outputs["drivers"])
    weights = pd.concat([pd.read_parquet(p) for p in interpretation], ignore_index=True)
    plots.plot_interpretation(weights, outputs["interpretation"])
