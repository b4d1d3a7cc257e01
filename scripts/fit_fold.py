"""Snakemake adapter: fit one (model, fold), predict its test rows, explain them."""

from zlflow.backtest import FitSettings
from zlflow.jobs import main
from zlflow.jobs.models import run_fit_fold

main(
    snakemake.log[0],
    run_fit_fold,
    data=snakemake.input.data,
    folds=snakemake.input.folds,
    fold=int(snakemake.wildcards.fold),
    settings=FitSettings.from_rule(
        snakemake.wildcards.model,
        snakemake.wildcards.horizon,
        snakemake.params.settings,
        snakemake.threads,
    ),
    best_params=snakemake.input.params,
    fold_fingerprint=snakemake.params.fingerprint,
    model_dir=snakemake.output.model,
    predictions=snakemake.output.predictions,
    shap=snakemake.output.shap,
    interpretation=snakemake.output.interpretation,
)
