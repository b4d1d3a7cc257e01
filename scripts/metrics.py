"""Snakemake adapter: scores, verdicts with significance, reliability and PIT per horizon."""

from zlflow.jobs import main
from zlflow.jobs.models import run_metrics
from zlflow.scorecard import ScoreSettings

main(
    snakemake.log[0],
    run_metrics,
    forecasts=[*snakemake.input.models, snakemake.input.baselines],
    settings=ScoreSettings.from_rule(
        snakemake.wildcards.horizon, snakemake.params.horizon_days, snakemake.params.settings
    ),
    outputs=dict(snakemake.output.items()),
)
