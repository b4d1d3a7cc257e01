"""Snakemake adapter: build the static dashboard from the API views."""

from zlflow.jobs import main
from zlflow.jobs.publish import run_dashboard

main(
    snakemake.log[0],
    run_dashboard,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    settings=snakemake.params.settings,
    html=snakemake.output.html,
    charts={k: v for k, v in snakemake.output.items() if k != "html"},
)
