"""Snakemake adapter: the marker of a raw table that live sources wrote."""

from zlflow.jobs import main
from zlflow.jobs.ingest import run_ingested_table

main(
    snakemake.log[0],
    run_ingested_table,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    table=snakemake.wildcards.raw_table,
    ingests=list(snakemake.input.ingests),
    marker=snakemake.output.marker,
)
