"""Snakemake adapter: gather every model's live forecast for a horizon."""

from zlflow.jobs import main
from zlflow.jobs.models import run_forecast_table

main(
    snakemake.log[0],
    run_forecast_table,
    forecasts=list(snakemake.input.forecasts),
    parquet=snakemake.output.parquet,
    json_path=snakemake.output.json,
)
