# Input functions and params lookups of the rules in rules/forecast.smk (calibration, baselines, the ensemble, metrics and plots).

from zlflow.codeversion import calibration_version, scoring_version


def fold_predictions(wildcards):
    return fold_files(wildcards.model, wildcards.horizon, "predictions")


def calibration_params():
    """Calibration settings and code: a change reruns calibration, not the model fits."""
    return dict(config["calibration"]) | {"code": calibration_version()}


def ensemble_members():
    """The configured models and the baselines the ensemble combines."""
    return MODELS + list(config["ensemble"]["baselines"])


def calibrated_predictions(wildcards):
    """Every model's calibrated out-of-sample predictions, then the ensemble's."""
    return [
        *outputs(
            rules.calibrate.output.predictions, model=MODELS, horizon=wildcards.horizon
        ),
        *outputs(rules.ensemble.output.oos, horizon=wildcards.horizon),
    ]


def model_outputs():
    """The fold tables' warehouse copy, then each horizon's metrics, forecast and fan."""
    return [rules.load_folds.output.marker] + [
        path
        for h in sorted(config["horizons"])
        for output in (
            rules.metrics.output.overall,
            rules.forecast_table.output.parquet,
            rules.plots.output.fan,
        )
        for path in outputs(output, horizon=h)
    ]
