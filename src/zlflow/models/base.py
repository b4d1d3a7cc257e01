"""The interface every forecasting model implements, so folds, tuning and reports stay generic.

A model predicts, for each row of features, quantiles of the forward log return, the
probability that the return is positive, and per-feature contributions to its median.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from zlflow.errors import ModelError

if TYPE_CHECKING:
    import optuna

MEDIAN = 0.5
METADATA_FILE = "model.json"


def quantile_column(q: float) -> str:
    """Column name of quantile ``q``: 0.05 -> "q5", 0.5 -> "q50", 0.025 -> "q2_5"."""
    return "q" + f"{q * 100:g}".replace(".", "_")


def check_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    """Quantiles as floats, strictly increasing in (0, 1): prediction columns follow them."""
    qs = tuple(float(q) for q in quantiles)
    if not qs:
        raise ModelError("no quantiles configured: set `quantiles` to e.g. [0.1, 0.5, 0.9]")
    if any(not 0.0 < q < 1.0 for q in qs):
        raise ModelError(f"quantiles must lie strictly between 0 and 1, got {list(qs)}")
    if any(b <= a for a, b in pairwise(qs)):
        raise ModelError(f"quantiles must be strictly increasing, got {list(qs)}")
    return qs


def check_numeric_inputs(X: pd.DataFrame) -> None:
    """Reject columns a tree model cannot take: only numeric, bool and ``category`` dtypes."""
    bad = [
        f"{column} ({dtype})"
        for column, dtype in X.dtypes.items()
        if not (
            isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_numeric_dtype(dtype)
        )
    ]
    if bad:
        raise ModelError(
            f"feature columns with unsupported dtypes: {', '.join(bad)}; convert text columns "
            "to pandas 'category' (X[col].astype('category')) or to numbers before fitting"
        )


def dated_features(rows: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The feature columns of ``rows`` indexed by ``trade_date``: sequence models read
    the calendar (day of week, month) from the index; row models ignore it."""
    index = pd.DatetimeIndex(rows["trade_date"], name="trade_date")
    return rows[list(features)].set_axis(index, axis=0)


class ForecastModel(ABC):
    """A quantile and direction forecaster for the forward log return ``y``.

    ``y > 0`` is the direction label. Implementations must be deterministic for a given
    ``seed`` and ``threads`` and see only the rows passed to ``fit``.
    """

    name: ClassVar[str]

    def __init__(
        self,
        quantiles: Sequence[float],
        params: Mapping[str, Any],
        seed: int,
        threads: int = 1,
    ) -> None:
        self.quantiles = check_quantiles(quantiles)
        self.params = dict(params)
        self.seed = int(seed)
        if threads < 1:
            raise ModelError(f"threads must be at least 1, got {threads}")
        self.threads = int(threads)
        self._features: list[str] | None = None

    @classmethod
    def horizon_params(cls, horizon_days: int) -> dict[str, Any]:
        """Parameters the workflow sets from the horizon (a sequence model's decoder length)."""
        return {}

    @property
    def feature_names(self) -> list[str]:
        """The feature columns seen by ``fit``, in order (predictions select these)."""
        if self._features is None:
            raise ModelError(f"{self.name} model is not fitted: call fit() or load() first")
        return list(self._features)

    def _check_fit_inputs(self, X: pd.DataFrame, y: pd.Series) -> np.ndarray:
        """Validate training inputs, remember the feature names and return ``y`` as floats."""
        if X.empty or X.shape[1] == 0:
            raise ModelError(f"cannot fit {self.name} on an empty frame (shape {X.shape})")
        if len(X) != len(y):
            raise ModelError(f"X has {len(X)} rows but y has {len(y)}; pass aligned rows")
        check_numeric_inputs(X)
        target = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(target).all():
            raise ModelError(
                f"y has {int((~np.isfinite(target)).sum())} missing or infinite values; "
                "fit only on rows whose target is known"
            )
        self._features = [str(c) for c in X.columns]
        return target

    def _select(self, X: pd.DataFrame) -> pd.DataFrame:
        """The fitted feature columns of ``X``, in training order."""
        features = self.feature_names
        missing = [c for c in features if c not in X.columns]
        if missing:
            raise ModelError(f"X lacks feature columns the model was fitted on: {missing}")
        selected = X[features]
        check_numeric_inputs(selected)
        return selected

    @abstractmethod
    def fit(self, X: pd.DataFrame, y: pd.Series) -> Self:
        """Fit on features ``X`` and forward log returns ``y``; return ``self``."""

    # ``history`` holds the feature rows before ``X`` (date order, all known when ``X``'s
    # first row is): sequence models build their encoder windows from it, row models
    # ignore it. It never holds targets.

    @abstractmethod
    def predict_quantiles(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """Array (n, len(quantiles)), sorted along axis 1 so quantiles never cross."""

    @abstractmethod
    def predict_p_up(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """Array (n,) of probabilities that ``y > 0``."""

    def interpretation(
        self, X: pd.DataFrame, history: pd.DataFrame | None = None
    ) -> pd.DataFrame | None:
        """Weights the architecture exposes per row besides ``explain`` (the TFT's variable
        selection and attention), one named column each; None for a model without any."""
        return None

    @abstractmethod
    def explain(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
        """Contributions to the raw median prediction.

        Index ``X.index``; one column per feature plus ``base_value``; each row sums to the
        median model's prediction before quantiles are sorted.
        """

    @classmethod
    def _read_metadata(cls, directory: Path) -> dict[str, Any]:
        """The ``model.json`` a ``save`` wrote, checked to belong to this model type."""
        meta_path = Path(directory) / METADATA_FILE
        if not meta_path.is_file():
            raise ModelError(f"{meta_path} not found: is {directory} a saved {cls.name} model?")
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if meta.get("name") != cls.name:
            raise ModelError(f"{directory} holds a {meta.get('name')!r} model, not {cls.name!r}")
        return meta

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything ``load`` needs to ``directory`` (created if missing)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Self:
        """Restore a model saved by ``save``; its predictions must be identical."""

    @staticmethod
    @abstractmethod
    def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
        """The Optuna search space (keys are parameter names ``params`` accepts)."""

    @staticmethod
    @abstractmethod
    def default_params() -> dict[str, Any]:
        """Parameters used where the configuration or tuning gives none."""
