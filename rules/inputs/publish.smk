# Input functions and params lookups of the rules in rules/publish.smk (publishing).


def all_shap_files(wildcards):
    """Every fold's and every live model's SHAP drivers."""
    return [
        path
        for h in sorted(config["horizons"])
        for m in MODELS
        for path in [
            *fold_files(m, h, "shap"),
            *outputs(rules.live_forecast.output.shap, model=m, horizon=h),
        ]
    ]


def api_markers():
    return [marker(k) for k in sorted(OBJECTS) if k.startswith("api.")]


def dashboard_settings():
    return dict(config["dashboard"]) | {
        "p_up_low": config["alerts"]["p_up_low"],
        "p_up_high": config["alerts"]["p_up_high"],
    }


def publish_outputs():
    return api_markers() + [rules.alerts.output.json, rules.dashboard.output.html]
