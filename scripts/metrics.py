"""Snakemake adapter: scores, verdicts with significance, reliability and PIT per horizon."""

from zlflow.jobs import main
from zlflow.jobs.models import run_metrics

main(
    snakemake.log[0],
    run_metrics,
    models=list(snakemake.input.models),
    baselines=snakemake.input.baselines,
    horizon=snakemake.wildcards.horizon,
    horizon_days=snakemake.params.horizon_days,
    settings=snakemake.params.settings,
    outputs=dict(snakemake.output.items()),
)
