"""Snakemake adapter: merge the backtest verdicts into forecasts.zl_backtest_verdicts."""

from zlflow.jobs import main
from zlflow.jobs.publish import run_upload_verdicts

main(
    snakemake.log[0],
    run_upload_verdicts,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    verdicts=list(snakemake.input.verdicts),
    quantiles=snakemake.params.quantiles,
    snapshot=snakemake.output.snapshot,
    marker=snakemake.output.marker,
)
