"""Snakemake adapter: the combined forecast of models and baselines, calibrated."""

from zlflow.jobs import main
from zlflow.jobs.models import run_ensemble

main(
    snakemake.log[0],
    run_ensemble,
    models=list(snakemake.input.models),
    live=list(snakemake.input.live),
    baselines=snakemake.input.baselines,
    members=snakemake.params.members,
    horizon_days=snakemake.params.horizon_days,
    settings=snakemake.params.settings,
    calibration=snakemake.params.calibration,
    ensemble=snakemake.params.ensemble,
    oos=snakemake.output.oos,
    forecast=snakemake.output.forecast,
)
