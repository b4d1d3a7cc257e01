"""Snakemake adapter: merge backtest and live forecasts into forecasts.zl_forecasts_daily."""

from zlflow.jobs import main
from zlflow.jobs.publish import run_upload_forecasts

main(
    snakemake.log[0],
    run_upload_forecasts,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    oos=list(snakemake.input.oos),
    live=list(snakemake.input.live),
    horizons=snakemake.params.horizons,
    quantiles=snakemake.params.quantiles,
    snapshot=snakemake.output.snapshot,
    marker=snakemake.output.marker,
)
