# Input functions and params lookups of the rules in rules/models.smk (walk-forward modelling).

import json

from zlflow.codeversion import code_version


def horizon_days(wildcards):
    return config["horizons"][wildcards.horizon]


def fold_table(wildcards):
    """The fold table once its checkpoint has run (ancient: fingerprints decide reruns)."""
    return ancient(
        checkpoints.walk_forward_folds.get(horizon=wildcards.horizon).output.table
    )


def tuning_fingerprint(wildcards):
    sidecar = checkpoints.walk_forward_folds.get(
        horizon=wildcards.horizon
    ).output.sidecar
    return json.loads(Path(sidecar).read_text())["tuning_fingerprint"]


def model_settings():
    """Config values that change every model's results (a params value of model rules)."""
    return {"quantiles": list(config["quantiles"]), "seed": config["seed"]}


def model_fixed_params(wildcards):
    """The model's fixed parameters from config (only its own: others' do not rerun it)."""
    return dict(config["model_params"].get(wildcards.model) or {})


def model_tuning(wildcards):
    """Tuning settings as they apply to one model."""
    tuning = config["tuning"]
    return {
        "n_trials": tuning["n_trials_by_model"].get(
            wildcards.model, tuning["n_trials"]
        ),
        "timeout_s": tuning.get("timeout_s"),
        "validation_sessions": tuning["validation_sessions"],
    }


def model_code(wildcards):
    """Hash of the model's own and the shared modelling source: a change reruns its jobs."""
    return code_version(wildcards.model)


def ancient_export(wildcards):
    """The export as an input whose timestamp never triggers a rerun: fold and tuning jobs
    rerun on their own rows' fingerprints (params) instead, so new data costs only the
    folds it changes. (A copy: ancient() flags the path it is given.)"""
    return ancient(
        outputs(rules.export_training.output.parquet, horizon=wildcards.horizon)[0]
    )


def fold_fingerprint(wildcards):
    import pandas as pd

    table = pd.read_csv(
        checkpoints.walk_forward_folds.get(horizon=wildcards.horizon).output.table
    )
    return table.loc[table["fold"] == int(wildcards.fold), "fingerprint"].item()


def fold_ids(horizon):
    """Folds of one horizon, read from the fold table once its checkpoint has run."""
    import pandas as pd

    table = checkpoints.walk_forward_folds.get(horizon=horizon).output.table
    return pd.read_csv(table)["fold"].tolist()


def fold_files(model, horizon, output):
    """One of ``fit_fold``'s outputs (by name) for every fold of a (model, horizon)."""
    pattern = getattr(rules.fit_fold.output, output)
    return outputs(pattern, model=model, horizon=horizon, fold=fold_ids(horizon))


def all_fold_predictions(wildcards):
    return [
        path
        for h in sorted(config["horizons"])
        for m in MODELS
        for path in fold_files(m, h, "predictions")
    ]
