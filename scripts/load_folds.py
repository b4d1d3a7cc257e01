"""Snakemake adapter: load the fold tables into training.walk_forward_folds."""

from zlflow.jobs import main
from zlflow.jobs.models import run_load_folds

main(
    snakemake.log[0],
    run_load_folds,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    tables=list(snakemake.input.tables),
    horizons=snakemake.params.horizons,
    snapshot=snakemake.output.snapshot,
    marker=snakemake.output.marker,
)
