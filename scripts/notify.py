"""Snakemake adapter: send new alerts to the configured webhook and/or e-mail."""

from zlflow.jobs import main
from zlflow.jobs.notify import run_notify

main(
    snakemake.log[0],
    run_notify,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    alerts_path=snakemake.input.alerts,
    delivery=snakemake.params.delivery,
    retry_token=snakemake.params.retry_token,
    report_path=snakemake.output.report,
)
