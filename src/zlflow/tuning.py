"""Optuna tuning on data before the first test window only: tuning cannot see a test row.

One study per (model, horizon) lives in an SQLite file, so an interrupted run resumes.
The study name carries a fingerprint of what it tunes on, so changed data or settings
start a fresh study instead of mixing trials.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from zlflow.folds import realised_before
from zlflow.metrics import pinball_loss
from zlflow.models import get_model
from zlflow.models.base import dated_features

log = logging.getLogger("zlflow")


def tuning_rows(
    frame: pd.DataFrame, cutoff: pd.Timestamp, validation_sessions: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(inner train, inner validation) from rows whose target is realised before ``cutoff``.

    The validation slice is the last ``validation_sessions`` of those rows; inner training
    rows end where their targets would reach into it (purged like a fold).
    """
    known = realised_before(frame, cutoff).sort_values("trade_date")
    if len(known) <= validation_sessions:
        raise ValueError(
            f"tuning needs more than {validation_sessions} rows before {cutoff.date()}, "
            f"found {len(known)}"
        )
    valid = known.iloc[-validation_sessions:]
    train = known[known["target_date"] < valid["trade_date"].iloc[0]]
    return train, valid


def study_fingerprint(
    frame: pd.DataFrame, features: Sequence[str], settings: dict[str, Any]
) -> str:
    """Short hash of the tuning rows and settings: a new value means a new study."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(pd.util.hash_pandas_object(frame[[*features, "target_log_return"]]).values)
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class TuneSettings:
    """One model's study: what is tuned, how many trials, and the parameters held fixed.

    ``fixed`` parameters win over the model's defaults and over the sampled values; the
    tune job adds the model's own horizon-dependent ones (``from_rule``).
    """

    model: str
    quantiles: tuple[float, ...]
    seed: int
    n_trials: int
    validation_sessions: int
    timeout_s: float | None = None
    threads: int = 1
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rule(
        cls,
        model: str,
        horizon_days: int,
        settings: Mapping[str, Any],
        tuning: Mapping[str, Any],
        fixed: Mapping[str, Any],
        threads: int,
    ) -> TuneSettings:
        """From the tune rule's params: ``settings`` (quantiles, seed), ``tuning`` (trials,
        timeout, validation sessions) and the model's ``fixed`` parameters from config."""
        return cls(
            model,
            tuple(settings["quantiles"]),
            int(settings["seed"]),
            int(tuning["n_trials"]),
            int(tuning["validation_sessions"]),
            tuning.get("timeout_s"),
            threads,
            dict(fixed) | get_model(model).horizon_params(horizon_days),
        )


def tune(
    frame: pd.DataFrame,
    features: Sequence[str],
    cutoff: pd.Timestamp,
    settings: TuneSettings,
    storage: str | Path,
) -> dict[str, Any]:
    """Run (or resume) the study in ``storage`` on rows whose targets are realised before
    ``cutoff``; the best parameters with a summary."""
    model_cls = get_model(settings.model)
    quantiles, seed, fixed = list(settings.quantiles), settings.seed, dict(settings.fixed)
    train, valid = tuning_rows(frame, cutoff, settings.validation_sessions)
    studied = {
        "model": model_cls.name,
        "quantiles": quantiles,
        "cutoff": str(cutoff.date()),
        "seed": seed,
        "validation_sessions": settings.validation_sessions,
        "fixed": fixed,
    }
    name = f"{model_cls.name}-{study_fingerprint(pd.concat([train, valid]), features, studied)}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=f"sqlite:///{Path(storage).resolve()}",
        load_if_exists=True,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    x_train = dated_features(train, features)
    y_train = train["target_log_return"].set_axis(x_train.index)
    x_valid, y_valid = dated_features(valid, features), valid["target_log_return"].to_numpy()
    # Sequence models read the feature rows before the validation slice (never targets).
    history = dated_features(frame[frame["trade_date"] < valid["trade_date"].iloc[0]], features)

    def objective(trial: optuna.Trial) -> float:
        params = model_cls.default_params() | model_cls.suggest_params(trial) | fixed
        model = model_cls(quantiles, params, seed=seed, threads=settings.threads)
        model.fit(x_train, y_train)
        predicted = model.predict_quantiles(x_valid, history)
        losses = [pinball_loss(y_valid, predicted[:, i], q) for i, q in enumerate(quantiles)]
        return float(np.mean(losses))

    def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        log.info(
            "trial %d: mean pinball %.6f (best %.6f)", trial.number, trial.value, study.best_value
        )

    done = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    remaining = max(0, settings.n_trials - done)
    log.info(
        "study %s: %d trials done, running %d more on %d train / %d validation rows before %s",
        name,
        done,
        remaining,
        len(train),
        len(valid),
        cutoff.date(),
    )
    if remaining:
        study.optimize(
            objective, n_trials=remaining, timeout=settings.timeout_s, callbacks=[progress]
        )
    return {
        "model": model_cls.name,
        "params": model_cls.default_params() | study.best_params | fixed,
        "best_value": study.best_value,
        "trials": len(study.trials),
        "study": name,
        "cutoff": str(cutoff.date()),
        "train_rows": len(train),
        "validation_rows": len(valid),
        "validation_end": str(valid["trade_date"].iloc[-1].date()),
    }
