"""Snakemake adapter: calibrate a model's fold predictions online, from matured outcomes."""

from zlflow.forecast import ForecastSettings
from zlflow.jobs import main
from zlflow.jobs.models import run_calibrate

main(
    snakemake.log[0],
    run_calibrate,
    data=snakemake.input.data,
    predictions=list(snakemake.input.predictions),
    settings=ForecastSettings.from_rule(
        snakemake.wildcards.horizon,
        snakemake.params.horizon_days,
        snakemake.params.settings,
        snakemake.params.calibration,
    ),
    output=snakemake.output.predictions,
)
