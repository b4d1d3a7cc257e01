"""Forecasting models by name: the workflow config picks one, every module shares one interface.

Each model's module is imported only when that model is asked for: a TFT job need not
load LightGBM, scikit-learn and SciPy (~77 MB of a process's memory), nor an LightGBM job
torch.
"""

from __future__ import annotations

import importlib

from zlflow.errors import ModelError
from zlflow.models.base import ForecastModel

_CLASSES: dict[str, tuple[str, str]] = {
    "lgbm": ("zlflow.models.lgbm", "LightGBMForecaster"),
    "tft": ("zlflow.models.tft", "TFTForecaster"),
}
MODEL_NAMES: tuple[str, ...] = tuple(_CLASSES)


def get_model(name: str) -> type[ForecastModel]:
    """The model class registered as ``name``."""
    try:
        module, attribute = _CLASSES[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}; known models: {', '.join(sorted(_CLASSES))}"
        ) from None
    model: type[ForecastModel] = getattr(importlib.import_module(module), attribute)
    return model
