"""Snakemake adapter: publish the audited candidate warehouse, every object at once."""

from zlflow.jobs import main
from zlflow.jobs.warehouse import run_publish

main(
    snakemake.log[0],
    run_publish,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    objects=snakemake.params.objects,
    marker=snakemake.output[0],
    candidates=snakemake.input.candidate,
)
