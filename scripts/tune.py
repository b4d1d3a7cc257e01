"""Snakemake adapter: tune one model on data before the first test window."""

from zlflow.jobs import main
from zlflow.jobs.models import run_tune
from zlflow.tuning import TuneSettings

main(
    snakemake.log[0],
    run_tune,
    data=snakemake.input.data,
    folds=snakemake.input.folds,
    settings=TuneSettings.from_rule(
        snakemake.wildcards.model,
        snakemake.params.horizon_days,
        snakemake.params.settings,
        snakemake.params.tuning,
        snakemake.params.fixed,
        snakemake.threads,
    ),
    storage=snakemake.params.storage,
    output=snakemake.output.params,
)
