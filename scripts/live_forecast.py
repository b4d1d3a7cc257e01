"""Snakemake adapter: train on all known targets and forecast from the latest date."""

from zlflow.backtest import LiveSettings
from zlflow.jobs import main
from zlflow.jobs.models import run_live_forecast

main(
    snakemake.log[0],
    run_live_forecast,
    data=snakemake.input.data,
    history=snakemake.input.history,
    settings=LiveSettings.from_rule(
        snakemake.wildcards.model,
        snakemake.wildcards.horizon,
        snakemake.params.horizon_days,
        snakemake.params.settings,
        snakemake.params.calibration,
        snakemake.params.exchange,
        snakemake.threads,
    ),
    best_params=snakemake.input.params,
    model_dir=snakemake.output.model,
    forecast=snakemake.output.forecast,
    shap=snakemake.output.shap,
)
