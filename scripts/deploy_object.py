"""Snakemake adapter: deploy one SQL object and write its marker."""

from zlflow.jobs import main
from zlflow.jobs.warehouse import run_deploy

main(
    snakemake.log[0],
    run_deploy,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    sql=snakemake.input.sql,
    name=snakemake.params.name,
    template_vars=snakemake.params.template_vars,
    marker=snakemake.output[0],
)
