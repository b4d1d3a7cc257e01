"""Snakemake adapter: naive baselines for every fold."""

from zlflow.jobs import main
from zlflow.jobs.models import run_baselines

main(
    snakemake.log[0],
    run_baselines,
    data=snakemake.input.data,
    folds=snakemake.input.folds,
    horizon=snakemake.wildcards.horizon,
    settings=snakemake.params.settings,
    output=snakemake.output.predictions,
)
