"""Snakemake adapter: write the active alerts from api.vw_zl_alerts to files."""

from zlflow.jobs import main
from zlflow.jobs.publish import run_alerts

main(
    snakemake.log[0],
    run_alerts,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    json_path=snakemake.output.json,
    csv_path=snakemake.output.csv,
)
