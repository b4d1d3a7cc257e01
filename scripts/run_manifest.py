"""Snakemake adapter: write the run manifest."""

from zlflow.jobs import main
from zlflow.jobs.export import run_manifest

main(
    snakemake.log[0],
    run_manifest,
    config=snakemake.params.config,
    sidecars=list(snakemake.input.sidecars),
    output=snakemake.output[0],
)
