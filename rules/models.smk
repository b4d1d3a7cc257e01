# Walk-forward modelling: the fold table (a checkpoint), tuning per model, one job per
# (model, fold), and the warehouse copy of the fold table.


include: "inputs/models.smk"


checkpoint walk_forward_folds:
    input:
        rules.export_training.output.parquet,
    output:
        table=report(
            f"{RESULTS}/folds/{{horizon}}/fold_table.csv",
            caption="../report/fold_table.rst",
            category="Walk-forward",
            subcategory="{horizon}",
        ),
        sidecar=f"{RESULTS}/folds/{{horizon}}/fold_table.json",
    log:
        f"{RESULTS}/logs/folds/{{horizon}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/folds/{{horizon}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    params:
        walk_forward=config["walk_forward"],
        horizon_days=horizon_days,
    script:
        "../scripts/make_folds.py"


rule load_folds:
    input:
        tables=outputs(
            rules.walk_forward_folds.output.table, horizon=sorted(config["horizons"])
        ),
    output:
        marker=f"{RESULTS}/warehouse/training/walk_forward_folds.json",
        snapshot=f"{RESULTS}/raw/walk_forward_folds.parquet",
    log:
        f"{RESULTS}/logs/load_folds.log",
    benchmark:
        f"{RESULTS}/benchmarks/load_folds.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(),
        horizons=sorted(config["horizons"]),
    script:
        "../scripts/load_folds.py"


rule tune:
    input:
        data=ancient_export,
        folds=fold_table,
    output:
        params=f"{RESULTS}/models/{{model}}/{{horizon}}/best_params.json",
    log:
        f"{RESULTS}/logs/tune/{{model}}/{{horizon}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tune/{{model}}/{{horizon}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    threads: 2
    params:
        settings=model_settings(),
        fingerprint=tuning_fingerprint,
        tuning=model_tuning,
        fixed=model_fixed_params,
        horizon_days=horizon_days,
        code=model_code,
        storage=f"{RESULTS}/models/{{model}}/{{horizon}}/optuna.sqlite3",
    script:
        "../scripts/tune.py"


rule fit_fold:
    input:
        data=ancient_export,
        folds=fold_table,
        params=rules.tune.output.params,
    output:
        model=directory(f"{RESULTS}/models/{{model}}/{{horizon}}/fold_{{fold}}/model"),
        predictions=f"{RESULTS}/models/{{model}}/{{horizon}}/fold_{{fold}}/predictions.parquet",
        shap=f"{RESULTS}/models/{{model}}/{{horizon}}/fold_{{fold}}/shap.parquet",
        interpretation=f"{RESULTS}/models/{{model}}/{{horizon}}/fold_{{fold}}/interpretation.parquet",
    log:
        f"{RESULTS}/logs/fit/{{model}}/{{horizon}}/fold_{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/fit/{{model}}/{{horizon}}/fold_{{fold}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    threads: 1
    params:
        settings=model_settings(),
        fingerprint=fold_fingerprint,
        code=model_code,
    script:
        "../scripts/fit_fold.py"


rule models:
    """Fit every (model, fold) and tune each model."""
    input:
        all_fold_predictions,
