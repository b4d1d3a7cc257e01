"""Snakemake adapter: calibrate each fold's predictions on earlier folds only."""

from zlflow.jobs import main
from zlflow.jobs.models import run_calibrate

main(
    snakemake.log[0],
    run_calibrate,
    predictions=list(snakemake.input.predictions),
    settings=snakemake.params.settings,
    calibration=snakemake.params.calibration,
    output=snakemake.output.predictions,
)
