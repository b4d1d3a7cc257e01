"""Snakemake adapter: fetch what one live source is missing and merge it into its raw table."""

from zlflow.jobs import main
from zlflow.jobs.ingest import run_ingest

main(
    snakemake.log[0],
    run_ingest,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    source=snakemake.params.source,
    settings=snakemake.params.settings,
    date_range=snakemake.params.date_range,
    retry=snakemake.params.retry,
    raw_dir=snakemake.params.raw_dir,
    marker=snakemake.output.marker,
    # Decides whether a fetch is accepted, not what is fetched: config, not params.
    calendar=snakemake.config["calendar"],
)
