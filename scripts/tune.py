"""Snakemake adapter: tune one model on data before the first test window."""

from zlflow.jobs import main
from zlflow.jobs.models import run_tune

main(
    snakemake.log[0],
    run_tune,
    data=snakemake.input.data,
    folds=snakemake.input.folds,
    model=snakemake.wildcards.model,
    settings=snakemake.params.settings,
    tuning=snakemake.params.tuning,
    fixed=snakemake.params.fixed,
    horizon_days=snakemake.params.horizon_days,
    storage=snakemake.params.storage,
    threads=snakemake.threads,
    output=snakemake.output.params,
)
