"""Snakemake adapter: the report's plots for one horizon."""

from zlflow.jobs import main
from zlflow.jobs.plots import run_plots

main(
    snakemake.log[0],
    run_plots,
    data=snakemake.input.data,
    folds=snakemake.input.folds,
    verdicts=snakemake.input.verdicts,
    by_fold=snakemake.input.by_fold,
    reliability=snakemake.input.reliability,
    pit=snakemake.input.pit,
    oos=list(snakemake.input.oos),
    forecast=snakemake.input.forecast,
    shap=list(snakemake.input.shap),
    interpretation=list(snakemake.input.interpretation),
    settings=snakemake.params.settings,
    outputs=dict(snakemake.output.items()),
)
