"""Snakemake adapter: run one data-quality assertion; a marker only when it passes."""

from zlflow.jobs import main
from zlflow.jobs.warehouse import run_assertion

main(
    snakemake.log[0],
    run_assertion,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    sql=snakemake.input.sql,
    marker=snakemake.output[0],
)
