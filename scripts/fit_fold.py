"""Snakemake adapter: fit one (model, fold), predict its test rows, explain them."""

from zlflow.jobs import main
from zlflow.jobs.models import run_fit_fold

main(
    snakemake.log[0],
    run_fit_fold,
    data=snakemake.input.data,
    folds=snakemake.input.folds,
    params=snakemake.input.params,
    model=snakemake.wildcards.model,
    horizon=snakemake.wildcards.horizon,
    fold=int(snakemake.wildcards.fold),
    settings=snakemake.params.settings,
    fold_fingerprint=snakemake.params.fingerprint,
    threads=snakemake.threads,
    model_dir=snakemake.output.model,
    predictions=snakemake.output.predictions,
    shap=snakemake.output.shap,
    interpretation=snakemake.output.interpretation,
)
