"""Snakemake adapter: build one reference table from config and load it."""

from zlflow.jobs import main
from zlflow.jobs.load import run_load_reference

main(
    snakemake.log[0],
    run_load_reference,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    table=snakemake.wildcards.reference_table,
    settings=snakemake.params.settings,
    snapshot=snakemake.output.snapshot,
    marker=snakemake.output.marker,
)
