"""Snakemake adapter: the combined forecast of models and baselines, calibrated."""

from zlflow.forecast import EnsembleSettings, ForecastSettings
from zlflow.jobs import main
from zlflow.jobs.models import run_ensemble

main(
    snakemake.log[0],
    run_ensemble,
    forecasts=[*snakemake.input.models, *snakemake.input.live, snakemake.input.baselines],
    settings=EnsembleSettings.from_rule(
        ForecastSettings.from_rule(
            snakemake.wildcards.horizon,
            snakemake.params.horizon_days,
            snakemake.params.settings,
            snakemake.params.calibration,
        ),
        snakemake.params.ensemble,
        snakemake.params.members,
    ),
    oos=snakemake.output.oos,
    forecast=snakemake.output.forecast,
)
