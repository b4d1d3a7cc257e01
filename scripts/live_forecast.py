"""Snakemake adapter: train on all known targets and forecast from the latest date."""

from zlflow.jobs import main
from zlflow.jobs.models import run_live_forecast

main(
    snakemake.log[0],
    run_live_forecast,
    data=snakemake.input.data,
    params=snakemake.input.params,
    history=snakemake.input.history,
    model=snakemake.wildcards.model,
    horizon=snakemake.wildcards.horizon,
    horizon_days=snakemake.params.horizon_days,
    exchange=snakemake.params.exchange,
    settings=snakemake.params.settings,
    calibration=snakemake.params.calibration,
    threads=snakemake.threads,
    model_dir=snakemake.output.model,
    forecast=snakemake.output.forecast,
    shap=snakemake.output.shap,
)
