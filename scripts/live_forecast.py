"""Snakemake adapter: train on all known targets and forecast from the latest date."""

from zlflow.backtest import FitSettings, LiveSettings
from zlflow.calibrate import CalibrationSettings
from zlflow.jobs import main
from zlflow.jobs.models import run_live_forecast

main(
    snakemake.log[0],
    run_live_forecast,
    data=snakemake.input.data,
    history=snakemake.input.history,
    settings=LiveSettings(
        fit=FitSettings.from_rule(
            snakemake.wildcards.model,
            snakemake.wildcards.horizon,
            snakemake.params.settings,
            snakemake.threads,
        ),
        horizon_days=snakemake.params.horizon_days,
        calibration=CalibrationSettings.from_config(snakemake.params.calibration),
        exchange=snakemake.params.exchange,
    ),
    best_params=snakemake.input.params,
    model_dir=snakemake.output.model,
    forecast=snakemake.output.forecast,
    shap=snakemake.output.shap,
)
