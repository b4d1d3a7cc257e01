"""Snakemake adapter: publish the static site (JSON per API view) and its one-file copy."""

from pathlib import Path

from zlflow.jobs import main
from zlflow.jobs.publish import run_dashboard

main(
    snakemake.log[0],
    run_dashboard,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    settings=snakemake.params.settings,
    views=snakemake.params.views,
    site=str(Path(snakemake.output.index).parent),
    html=snakemake.output.html,
    charts={name: snakemake.output[name] for name in snakemake.params.charts},
)
