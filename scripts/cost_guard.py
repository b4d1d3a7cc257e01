"""Snakemake adapter: dry-run every SQL object on BigQuery and enforce the byte caps."""

from zlflow.jobs import main
from zlflow.jobs.cost import run_cost_guard

main(
    snakemake.log[0],
    run_cost_guard,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    sql_dir=snakemake.params.sql_dir,
    horizons=snakemake.params.horizons,
    built=snakemake.params.built,
    caps=snakemake.params.caps,
    csv=snakemake.output.csv,
    summary=snakemake.output.summary,
    log_file=snakemake.log[0],
)
