"""Snakemake adapter: write the walk-forward fold table (a checkpoint)."""

from zlflow.folds import FoldSpec
from zlflow.jobs import main
from zlflow.jobs.models import run_folds

main(
    snakemake.log[0],
    run_folds,
    data=snakemake.input[0],
    spec=FoldSpec.from_config(snakemake.params.walk_forward),
    horizon_days=snakemake.params.horizon_days,
    table=snakemake.output.table,
    sidecar=snakemake.output.sidecar,
)
