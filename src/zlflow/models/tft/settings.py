"""The TFT's parameters: defaults, the checks that fail a typo before training, and the
Optuna search space."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zlflow.errors import ModelError
from zlflow.models.tft.runtime import DEVICES

if TYPE_CHECKING:
    import optuna

# Integer parameters and their smallest allowed value.
_INT_PARAMS = {
    "hidden_size": 2,
    "hidden_continuous": 1,
    "attention_heads": 1,
    "encoder_length": 1,
    "horizon": 1,
    "batch_size": 1,
    "consecutive_origins": 1,
    "max_epochs": 1,
    "patience": 1,
    "explain_steps": 1,
}


def default_params() -> dict[str, Any]:
    """Small network: one fold of ~3,000 rows x ~50 features trains in about a minute.

    ``hidden_continuous`` 8 (pytorch-forecasting's default) halves the width of the
    per-variable embeddings and GRNs, which dominate the cost with ~50 features.
    """
    return {
        "hidden_size": 16,
        "hidden_continuous": 8,
        "attention_heads": 2,
        "encoder_length": 63,
        "horizon": 21,  # must equal the workflow's horizon_days
        "dropout": 0.1,
        "batch_size": 64,
        # Origins drawn into a batch in runs of this many neighbours (1: one by one).
        # Neighbours share encoder rows, so a batch of 64 in runs of 4 costs about
        # two thirds of 64 single draws, with the same validation loss (BENCHMARKS.md).
        "consecutive_origins": 4,
        "learning_rate": 1e-3,
        "weight_decay": 1e-4,
        "max_epochs": 10,
        "patience": 3,
        "gradient_clip": 1.0,
        "validation_fraction": 0.1,
        "direction_weight": 1.0,
        "input_clip": 10.0,
        "return_feature": "ret_1d",
        "explain_steps": 16,
        "device": "auto",
    }


def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
    """Width, regularisation, step size and look-back; the rest stays at the defaults."""
    return {
        "hidden_size": trial.suggest_categorical("hidden_size", [8, 16, 32]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
        "encoder_length": trial.suggest_categorical("encoder_length", [21, 42, 63, 126]),
    }


def check_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``params``, checked so a typo fails before training."""
    defaults = default_params()
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ModelError(f"unknown tft parameters {unknown}; known: {sorted(defaults)}")
    s = defaults | dict(params)
    for key, low in _INT_PARAMS.items():
        if isinstance(s[key], bool) or int(s[key]) != s[key] or s[key] < low:
            raise ModelError(f"tft parameter {key} must be an integer >= {low}, got {s[key]!r}")
        s[key] = int(s[key])
    if s["hidden_continuous"] > s["hidden_size"]:
        raise ModelError(
            f"tft hidden_continuous ({s['hidden_continuous']}) must not exceed hidden_size "
            f"({s['hidden_size']}): set it to at most {s['hidden_size']}"
        )
    if s["hidden_size"] % s["attention_heads"]:
        raise ModelError(
            f"tft hidden_size ({s['hidden_size']}) must be divisible by attention_heads "
            f"({s['attention_heads']})"
        )
    if not 0.0 <= s["dropout"] < 1.0:
        raise ModelError(f"tft dropout must be in [0, 1), got {s['dropout']}")
    if not 0.0 <= s["validation_fraction"] < 0.5:
        raise ModelError(
            f"tft validation_fraction must be in [0, 0.5), got {s['validation_fraction']}"
        )
    for key in ("learning_rate", "gradient_clip", "input_clip"):
        if not s[key] > 0:
            raise ModelError(f"tft parameter {key} must be positive, got {s[key]!r}")
    if s["device"] not in DEVICES:
        raise ModelError(f"tft device must be one of {list(DEVICES)}, got {s['device']!r}")
    return s
