"""Snakemake adapter: merge SHAP drivers into forecasts.zl_explainers_daily."""

from zlflow.jobs import main
from zlflow.jobs.publish import run_upload_explainers

main(
    snakemake.log[0],
    run_upload_explainers,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    shap=list(snakemake.input.shap),
    quantiles=snakemake.params.quantiles,
    snapshot=snakemake.output.snapshot,
    marker=snakemake.output.marker,
)
