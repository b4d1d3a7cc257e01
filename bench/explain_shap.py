"""SHAP on one fold: LightGBM's native pred_contrib (what zlflow uses) vs shap's TreeExplainer.

    .venv/bin/python bench/explain_shap.py [--repeats 5] [--threads 1]

The median booster is trained on the real sample's rows whose targets end before the
validation start (2019-01-01) and explained on the validation rows (2019-01 to 2024-05,
about 1,363 rows), as in the issue's reference. Timings, median of ``--repeats``:
``LightGBMForecaster.explain`` (pred_contrib plus the labelled frame), the bare
``Booster.predict(pred_contrib=True)`` on the DataFrame and on a float64 array, and
``shap.TreeExplainer(booster).shap_values`` (which for a LightGBM booster calls that same
pred_contrib); and the largest absolute difference between zlflow's values and shap's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import shap
from common import dated_features, emit, ensure_export, median

from zlflow.backtest import read_training
from zlflow.models.lgbm import LightGBMForecaster

VALIDATION_START = pd.Timestamp("2019-01-01")
VALIDATION_END = pd.Timestamp("2024-05-31")


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls, and the last call's result."""
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads (fold jobs: 1)")
    args = parser.parse_args()
    export, _ = ensure_export()
    frame, features = read_training(export)
    train = frame[frame["target_date"].notna() & (frame["target_date"] < VALIDATION_START)]
    valid = frame[frame["trade_date"].between(VALIDATION_START, VALIDATION_END)]
    x_train, x_valid = dated_features(train, features), dated_features(valid, features)
    model = LightGBMForecaster([0.5], {}, seed=42, threads=args.threads)
    started = time.perf_counter()
    model.fit(x_train, train["target_log_return"].set_axis(x_train.index))
    fit_s = time.perf_counter() - started
    booster = model.booster("q50")
    selected = x_valid[model.feature_names]

    ours_s, ours = timed(lambda: model.explain(x_valid), args.repeats)
    native_s, native = timed(lambda: booster.predict(selected, pred_contrib=True), args.repeats)
    matrix = selected.to_numpy(dtype=np.float64)
    numpy_s, _ = timed(lambda: booster.predict(matrix, pred_contrib=True), args.repeats)
    build_s, explainer = timed(lambda: shap.TreeExplainer(booster), args.repeats)
    values_s, values = timed(lambda: explainer.shap_values(selected), args.repeats)
    total_s, _ = timed(lambda: shap.TreeExplainer(booster).shap_values(selected), args.repeats)

    ours_values = ours[model.feature_names].to_numpy()
    diff_shap = float(np.max(np.abs(ours_values - np.asarray(values))))
    diff_base = float(np.max(np.abs(ours["base_value"].to_numpy() - explainer.expected_value)))
    diff_native = float(np.max(np.abs(ours.to_numpy() - np.asarray(native))))
    emit(
        "shap",
        {
            "train_rows": len(train),
            "explained_rows": len(valid),
            "features": len(features),
            "trees": booster.num_trees(),
            "threads": args.threads,
            "repeats": args.repeats,
            "fit_median_booster_s": round(fit_s, 3),
            "zlflow_explain_s": round(ours_s, 4),
            "lightgbm_pred_contrib_s": round(native_s, 4),
            "lightgbm_pred_contrib_numpy_s": round(numpy_s, 4),
            "shap_tree_explainer_total_s": round(total_s, 4),
            "shap_build_explainer_s": round(build_s, 4),
            "shap_values_only_s": round(values_s, 4),
            "shap_total_over_zlflow": round(total_s / ours_s, 2),
            "zlflow_over_pred_contrib": round(ours_s / native_s, 2),
            "max_abs_diff_vs_shap": diff_shap,
            "max_abs_diff_base_value_vs_shap": diff_base,
            "max_abs_diff_vs_pred_contrib": diff_native,
            "shap_version": shap.__version__,
        },
    )


if __name__ == "__main__":
    main()
