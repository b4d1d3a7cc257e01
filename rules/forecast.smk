# From out-of-sample predictions to calibrated forecasts, the baselines and the ensemble,
# metrics and verdicts against the baselines, the live forecast and the report's plots.


include: "inputs/forecast.smk"


rule calibrate:
    input:
        data=rules.export_training.output.parquet,
        predictions=fold_predictions,
    output:
        predictions=f"{RESULTS}/models/{{model}}/{{horizon}}/oos_calibrated.parquet",
    log:
        f"{RESULTS}/logs/calibrate/{{model}}/{{horizon}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/calibrate/{{model}}/{{horizon}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    params:
        settings=model_settings(),
        calibration=calibration_params(),
        horizon_days=horizon_days,
    script:
        "../scripts/calibrate.py"


rule baselines:
    input:
        data=rules.export_training.output.parquet,
        folds=rules.walk_forward_folds.output.table,
    output:
        predictions=f"{RESULTS}/baselines/{{horizon}}/oos.parquet",
    log:
        f"{RESULTS}/logs/baselines/{{horizon}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/baselines/{{horizon}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    params:
        settings=model_settings(),
        calibration=calibration_params(),
        horizon_days=horizon_days,
    script:
        "../scripts/baselines.py"


rule live_forecast:
    input:
        data=rules.export_training.output.parquet,
        params=rules.tune.output.params,
        history=rules.calibrate.output.predictions,
    output:
        model=directory(f"{RESULTS}/models/{{model}}/{{horizon}}/live/model"),
        forecast=f"{RESULTS}/models/{{model}}/{{horizon}}/live/forecast.parquet",
        shap=f"{RESULTS}/models/{{model}}/{{horizon}}/live/shap.parquet",
    log:
        f"{RESULTS}/logs/live/{{model}}/{{horizon}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/live/{{model}}/{{horizon}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    threads: 2
    params:
        settings=model_settings(),
        calibration=calibration_params(),
        horizon_days=horizon_days,
        exchange=config["calendar"]["exchange"],
        code=model_code,
    script:
        "../scripts/live_forecast.py"


rule ensemble:
    input:
        models=lambda w: outputs(
            rules.calibrate.output.predictions, model=MODELS, horizon=w.horizon
        ),
        live=lambda w: outputs(
            rules.live_forecast.output.forecast, model=MODELS, horizon=w.horizon
        ),
        baselines=rules.baselines.output.predictions,
    output:
        oos=f"{RESULTS}/models/ensemble/{{horizon}}/oos_calibrated.parquet",
        forecast=f"{RESULTS}/models/ensemble/{{horizon}}/live/forecast.parquet",
    log:
        f"{RESULTS}/logs/ensemble/{{horizon}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ensemble/{{horizon}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    params:
        members=ensemble_members(),
        horizon_days=horizon_days,
        settings=model_settings(),
        calibration=calibration_params(),
        ensemble=config["ensemble"],
    script:
        "../scripts/ensemble.py"


rule forecast_table:
    input:
        # every model's live forecast, then the ensemble's (PUBLISHED's order)
        forecasts=lambda w: [
            *outputs(
                rules.live_forecast.output.forecast, model=MODELS, horizon=w.horizon
            ),
            *outputs(rules.ensemble.output.forecast, horizon=w.horizon),
        ],
    output:
        parquet=f"{RESULTS}/forecast/{{horizon}}/forecast.parquet",
        json=f"{RESULTS}/forecast/{{horizon}}/forecast.json",
    log:
        f"{RESULTS}/logs/forecast/{{horizon}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/forecast/{{horizon}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    script:
        "../scripts/forecast_table.py"


rule metrics:
    input:
        models=calibrated_predictions,
        baselines=rules.baselines.output.predictions,
    output:
        overall=report(
            f"{RESULTS}/metrics/{{horizon}}/metrics.csv",
            caption="../report/metrics.rst",
            category="Backtest",
            subcategory="{horizon}",
        ),
        by_fold=f"{RESULTS}/metrics/{{horizon}}/metrics_by_fold.csv",
        by_regime=f"{RESULTS}/metrics/{{horizon}}/metrics_by_regime.csv",
        verdicts=report(
            f"{RESULTS}/metrics/{{horizon}}/verdicts.csv",
            caption="../report/verdicts.rst",
            category="Backtest",
            subcategory="{horizon}",
        ),
        reliability=f"{RESULTS}/metrics/{{horizon}}/reliability.csv",
        pit=f"{RESULTS}/metrics/{{horizon}}/pit.csv",
        summary=report(
            f"{RESULTS}/metrics/{{horizon}}/summary.txt",
            caption="../report/summary.rst",
            category="Backtest",
            subcategory="{horizon}",
        ),
    log:
        f"{RESULTS}/logs/metrics/{{horizon}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/{{horizon}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    params:
        settings=model_settings(),
        horizon_days=horizon_days,
        code=scoring_version(),
    script:
        "../scripts/metrics.py"


rule plots:
    input:
        data=rules.export_training.output.parquet,
        folds=rules.walk_forward_folds.output.table,
        verdicts=rules.metrics.output.verdicts,
        by_fold=rules.metrics.output.by_fold,
        reliability=rules.metrics.output.reliability,
        pit=rules.metrics.output.pit,
        oos=calibrated_predictions,
        forecast=rules.forecast_table.output.parquet,
        shap=lambda wildcards: [
            p for m in MODELS for p in fold_files(m, wildcards.horizon, "shap")
        ],
        interpretation=lambda wildcards: [
            p
            for m in MODELS
            for p in fold_files(m, wildcards.horizon, "interpretation")
        ],
    output:
        folds=report(
            f"{RESULTS}/plots/{{horizon}}/folds.png",
            caption="../report/folds.rst",
            category="Walk-forward",
            subcategory="{horizon}",
        ),
        skill=report(
            f"{RESULTS}/plots/{{horizon}}/skill.png",
            caption="../report/skill.rst",
            category="Backtest",
            subcategory="{horizon}",
        ),
        coverage=report(
            f"{RESULTS}/plots/{{horizon}}/coverage.png",
            caption="../report/coverage.rst",
            category="Backtest",
            subcategory="{horizon}",
        ),
        reliability=report(
            f"{RESULTS}/plots/{{horizon}}/reliability.png",
            caption="../report/reliability.rst",
            category="Backtest",
            subcategory="{horizon}",
        ),
        pit=report(
            f"{RESULTS}/plots/{{horizon}}/pit.png",
            caption="../report/pit.rst",
            category="Backtest",
            subcategory="{horizon}",
        ),
        fan=report(
            f"{RESULTS}/plots/{{horizon}}/fan.png",
            caption="../report/fan.rst",
            category="Forecast",
            subcategory="{horizon}",
        ),
        drivers=report(
            f"{RESULTS}/plots/{{horizon}}/drivers.png",
            caption="../report/drivers.rst",
            category="Explanations",
            subcategory="{horizon}",
        ),
        interpretation=report(
            f"{RESULTS}/plots/{{horizon}}/interpretation.png",
            caption="../report/interpretation.rst",
            category="Explanations",
            subcategory="{horizon}",
        ),
    log:
        f"{RESULTS}/logs/plots/{{horizon}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/plots/{{horizon}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    params:
        settings=model_settings(),
    script:
        "../scripts/plots.py"


rule forecast:
    """Metrics, live forecasts and plots for every horizon."""
    input:
        model_outputs(),
