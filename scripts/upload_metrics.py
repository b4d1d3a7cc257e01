"""Snakemake adapter: merge backtest metrics into forecasts.zl_backtest_metrics."""

from zlflow.jobs import main
from zlflow.jobs.publish import run_upload_metrics

main(
    snakemake.log[0],
    run_upload_metrics,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    overall=list(snakemake.input.overall),
    by_fold=list(snakemake.input.by_fold),
    by_regime=list(snakemake.input.by_regime),
    horizons=snakemake.params.horizons,
    quantiles=snakemake.params.quantiles,
    snapshot=snakemake.output.snapshot,
    marker=snakemake.output.marker,
)
