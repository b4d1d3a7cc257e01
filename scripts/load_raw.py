"""Snakemake adapter: load one raw table from the bundled sample."""

from zlflow.jobs import main
from zlflow.jobs.warehouse import run_load_raw

main(
    snakemake.log[0],
    run_load_raw,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    table=snakemake.wildcards.raw_table,
    sample_dir=snakemake.params.sample_dir,
    snapshot=snakemake.output.snapshot,
    marker=snakemake.output.marker,
)
