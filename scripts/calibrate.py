"""Snakemake adapter: calibrate a model's fold predictions online, from matured outcomes."""

from zlflow.jobs import main
from zlflow.jobs.models import run_calibrate

main(
    snakemake.log[0],
    run_calibrate,
    data=snakemake.input.data,
    predictions=list(snakemake.input.predictions),
    settings=snakemake.params.settings,
    calibration=snakemake.params.calibration,
    horizon_days=snakemake.params.horizon_days,
    output=snakemake.output.predictions,
)
