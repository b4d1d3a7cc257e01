"""Snakemake adapter: metrics of every model and baseline, overall, per fold, per regime."""

from zlflow.jobs import main
from zlflow.jobs.models import run_metrics

main(
    snakemake.log[0],
    run_metrics,
    models=list(snakemake.input.models),
    baselines=snakemake.input.baselines,
    settings=snakemake.params.settings,
    overall=snakemake.output.overall,
    by_fold=snakemake.output.by_fold,
    by_regime=snakemake.output.by_regime,
    summary=snakemake.output.summary,
)
