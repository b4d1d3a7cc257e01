"""Snakemake adapter: naive and GARCH baselines for every fold and today, calibrated."""

from zlflow.forecast import ForecastSettings
from zlflow.jobs import main
from zlflow.jobs.models import run_baselines

main(
    snakemake.log[0],
    run_baselines,
    data=snakemake.input.data,
    folds=snakemake.input.folds,
    settings=ForecastSettings.from_rule(
        snakemake.wildcards.horizon,
        snakemake.params.horizon_days,
        snakemake.params.settings,
        snakemake.params.calibration,
    ),
    output=snakemake.output.predictions,
)
