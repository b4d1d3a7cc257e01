"""LightGBM per-fold training and Optuna trial throughput on the real sample.

    .venv/bin/python bench/lgbm_optuna.py [--trials 10] [--params best_params.json]

Every fold of the default walk-forward table is fitted as the workflow's fold job does
it (7 quantile boosters and a direction booster, 1 thread, default parameters unless
``--params`` names a best-params file), then predicted and explained; the row reports
the median and total seconds per fold. Then one fresh Optuna study of ``--trials`` trials
(2 threads, as the tune rule) runs on the tuning rows; the row reports the median trial
duration and trials per minute.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
import yaml
from common import ROOT, dated_features, emit, ensure_export, median

from zlflow.backtest import read_training
from zlflow.folds import fold_rows, read_folds
from zlflow.models.lgbm import LightGBMForecaster
from zlflow.tuning import TuneSettings, tune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--params", type=Path, help="a best_params.json from a run")
    parser.add_argument("--max-folds", type=int, default=None)
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    quantiles, seed = config["quantiles"], config["seed"]
    params = json.loads(args.params.read_text())["params"] if args.params else {}
    export, fold_table = ensure_export()
    frame, features = read_training(export)
    folds = read_folds(fold_table)
    if args.max_folds:
        folds = folds.head(args.max_folds)

    fit_s, rest_s, train_rows = [], [], []
    for fold in folds.to_dict("records"):
        train, test = fold_rows(frame, fold)
        x_train, x_test = dated_features(train, features), dated_features(test, features)
        model = LightGBMForecaster(quantiles, params, seed=seed, threads=1)
        started = time.perf_counter()
        model.fit(x_train, train["target_log_return"].set_axis(x_train.index))
        fitted = time.perf_counter()
        model.predict_quantiles(x_test)
        model.predict_p_up(x_test)
        model.explain(x_test)
        fit_s.append(fitted - started)
        rest_s.append(time.perf_counter() - fitted)
        train_rows.append(len(train))
    emit(
        "lgbm_folds",
        {
            "folds": len(folds),
            "boosters_per_fold": len(quantiles) + 1,
            "rounds": (LightGBMForecaster.default_params() | params)["num_boost_round"],
            "params": "best_params.json" if args.params else "defaults",
            "threads": 1,
            "train_rows_median": int(median(train_rows)),
            "features": len(features),
            "fit_median_s": round(median(fit_s), 3),
            "fit_total_s": round(sum(fit_s), 2),
            "predict_explain_median_s": round(median(rest_s), 4),
            "folds_per_minute": round(60 * len(fit_s) / (sum(fit_s) + sum(rest_s)), 1),
        },
    )

    cutoff = pd.Timestamp(folds["test_start"].min())
    with tempfile.TemporaryDirectory(prefix="zlflow-bench-optuna-") as scratch:
        storage = Path(scratch) / "optuna.sqlite3"
        started = time.perf_counter()
        settings = TuneSettings(
            LightGBMForecaster.name,
            tuple(quantiles),
            seed,
            args.trials,
            config["tuning"]["validation_sessions"],
            threads=2,
        )
        result = tune(frame, features, cutoff, settings, storage)
        total = time.perf_counter() - started
        study = optuna.load_study(study_name=result["study"], storage=f"sqlite:///{storage}")
        durations = [t.duration.total_seconds() for t in study.trials if t.duration]
    emit(
        "optuna",
        {
            "trials": len(durations),
            "threads": 2,
            "train_rows": result["train_rows"],
            "validation_rows": result["validation_rows"],
            "trial_median_s": round(median(durations), 2),
            "trial_min_s": round(min(durations), 2),
            "trial_max_s": round(max(durations), 2),
            "study_total_s": round(total, 1),
            "trials_per_minute": round(60 * len(durations) / total, 2),
        },
    )


if __name__ == "__main__":
    main()
