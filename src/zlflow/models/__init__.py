"""Forecasting models by name: the workflow config picks one, every module shares one interface."""

from __future__ import annotations

from zlflow.errors import ModelError
from zlflow.models.base import ForecastModel
from zlflow.models.lgbm import LightGBMForecaster
from zlflow.models.tft import TFTForecaster  # imports torch only when a TFT is used

MODELS: dict[str, type[ForecastModel]] = {"lgbm": LightGBMForecaster, "tft": TFTForecaster}


def get_model(name: str) -> type[ForecastModel]:
    """The model class registered as ``name``."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}"
        ) from None
