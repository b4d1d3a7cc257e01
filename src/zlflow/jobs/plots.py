"""The plots job: the per-horizon report figures (matplotlib stays out of the other jobs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from zlflow import plots
from zlflow.backtest import read_training
from zlflow.folds import read_folds
from zlflow.metrics import interval_levels


def run_plots(
    data: str,
    folds: str,
    verdicts: str,
    by_fold: str,
    reliability: str,
    pit: str,
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
    plots.plot_skill(pd.read_csv(verdicts), outputs["skill"])
    plots.plot_coverage(pd.read_csv(by_fold), interval_levels(quantiles), outputs["coverage"])
    plots.plot_reliability(pd.read_csv(reliability), outputs["reliability"])
    plots.plot_pit(pd.read_csv(pit), outputs["pit"])
    calibrated = pd.concat([pd.read_parquet(p) for p in oos], ignore_index=True)
    plots.plot_fan(frame, calibrated, pd.read_parquet(forecast), quantiles, outputs["fan"])
    drivers = pd.concat([pd.read_parquet(p) for p in shap], ignore_index=True)
    plots.plot_drivers_by_model(drivers, 15, outputs["drivers"])
    weights = pd.concat([pd.read_parquet(p) for p in interpretation], ignore_index=True)
    plots.plot_interpretation(weights, outputs["interpretation"])
