"""Snakemake adapter: naive and GARCH baselines for every fold and today, calibrated."""

from zlflow.jobs import main
from zlflow.jobs.models import run_baselines

main(
    snakemake.log[0],
    run_baselines,
    data=snakemake.input.data,
    folds=snakemake.input.folds,
    horizon=snakemake.wildcards.horizon,
    horizon_days=snakemake.params.horizon_days,
    settings=snakemake.params.settings,
    calibration=snakemake.params.calibration,
    output=snakemake.output.predictions,
)
