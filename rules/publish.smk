# Publishing: forecasts, explainers and metrics merged into the forecasts dataset, the
# API views on top of them, the alerts file and the static site (docs/site.md).


include: "inputs/publish.smk"


rule upload_forecasts:
    input:
        oos=lambda wildcards: [
            path
            for h in sorted(config["horizons"])
            for path in [
                *outputs(rules.calibrate.output.predictions, model=MODELS, horizon=h),
                *outputs(rules.ensemble.output.oos, horizon=h),
            ]
        ],
        live=lambda wildcards: [
            path
            for h in sorted(config["horizons"])
            for path in [
                *outputs(rules.live_forecast.output.forecast, model=MODELS, horizon=h),
                *outputs(rules.ensemble.output.forecast, horizon=h),
            ]
        ],
    output:
        marker=f"{RESULTS}/warehouse/forecasts/zl_forecasts_daily.json",
        snapshot=f"{RESULTS}/publish/zl_forecasts_daily.parquet",
    log:
        f"{RESULTS}/logs/publish/zl_forecasts_daily.log",
    benchmark:
        f"{RESULTS}/benchmarks/publish/zl_forecasts_daily.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(),
        horizons=dict(config["horizons"]),
        quantiles=list(config["quantiles"]),
    script:
        "../scripts/upload_forecasts.py"


rule upload_explainers:
    input:
        shap=all_shap_files,
    output:
        marker=f"{RESULTS}/warehouse/forecasts/zl_explainers_daily.json",
        snapshot=f"{RESULTS}/publish/zl_explainers_daily.parquet",
    log:
        f"{RESULTS}/logs/publish/zl_explainers_daily.log",
    benchmark:
        f"{RESULTS}/benchmarks/publish/zl_explainers_daily.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(),
        quantiles=list(config["quantiles"]),
    script:
        "../scripts/upload_explainers.py"


rule upload_metrics:
    input:
        overall=outputs(
            rules.metrics.output.overall, horizon=sorted(config["horizons"])
        ),
        by_fold=outputs(
            rules.metrics.output.by_fold, horizon=sorted(config["horizons"])
        ),
        by_regime=outputs(
            rules.metrics.output.by_regime, horizon=sorted(config["horizons"])
        ),
    output:
        marker=f"{RESULTS}/warehouse/forecasts/zl_backtest_metrics.json",
        snapshot=f"{RESULTS}/publish/zl_backtest_metrics.parquet",
    log:
        f"{RESULTS}/logs/publish/zl_backtest_metrics.log",
    benchmark:
        f"{RESULTS}/benchmarks/publish/zl_backtest_metrics.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(),
        horizons=sorted(config["horizons"]),
        quantiles=list(config["quantiles"]),
    script:
        "../scripts/upload_metrics.py"


rule upload_verdicts:
    input:
        verdicts=outputs(
            rules.metrics.output.verdicts, horizon=sorted(config["horizons"])
        ),
    output:
        marker=f"{RESULTS}/warehouse/forecasts/zl_backtest_verdicts.json",
        snapshot=f"{RESULTS}/publish/zl_backtest_verdicts.parquet",
    log:
        f"{RESULTS}/logs/publish/zl_backtest_verdicts.log",
    benchmark:
        f"{RESULTS}/benchmarks/publish/zl_backtest_verdicts.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(),
        quantiles=list(config["quantiles"]),
    script:
        "../scripts/upload_verdicts.py"


rule alerts:
    input:
        api_markers(),
    output:
        json=f"{RESULTS}/publish/alerts.json",
        csv=f"{RESULTS}/publish/alerts.csv",
    log:
        f"{RESULTS}/logs/publish/alerts.log",
    benchmark:
        f"{RESULTS}/benchmarks/publish/alerts.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(),
    script:
        "../scripts/alerts.py"


# The API views the site publishes as api/<view>.json: every view in sql/api.
SITE_VIEWS = sorted(OBJECTS[k].name for k in OBJECTS if k.startswith("api."))
SITE_CHARTS = [
    "fan",
    "direction",
    "drivers",
    "metrics",
    "coverage",
    "reliability",
    "pit",
]


rule dashboard:
    """The static site (index.html reading api/<view>.json) and its one-file copy."""
    input:
        api_markers(),
    output:
        html=f"{RESULTS}/publish/dashboard.html",
        index=f"{RESULTS}/publish/site/index.html",
        meta=f"{RESULTS}/publish/site/meta.json",
        views=expand(f"{RESULTS}/publish/site/api/{{view}}.json", view=SITE_VIEWS),
        svgs=expand(f"{RESULTS}/publish/site/charts/{{chart}}.svg", chart=SITE_CHARTS),
        fan=report(
            f"{RESULTS}/publish/charts/fan.png",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
        direction=report(
            f"{RESULTS}/publish/charts/direction.png",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
        drivers=report(
            f"{RESULTS}/publish/charts/drivers.png",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
        metrics=report(
            f"{RESULTS}/publish/charts/metrics.png",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
        coverage=report(
            f"{RESULTS}/publish/charts/coverage.png",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
        reliability=report(
            f"{RESULTS}/publish/charts/reliability.png",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
        pit=report(
            f"{RESULTS}/publish/charts/pit.png",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
    log:
        f"{RESULTS}/logs/publish/dashboard.log",
    benchmark:
        f"{RESULTS}/benchmarks/publish/dashboard.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(),
        settings=dashboard_settings()
        | {"test_sessions": config["walk_forward"]["test_sessions"]},
        views=SITE_VIEWS,
        charts=SITE_CHARTS,
    script:
        "../scripts/dashboard.py"


rule publish:
    """Upload, deploy the API views, write alerts and the dashboard."""
    input:
        publish_outputs(),
