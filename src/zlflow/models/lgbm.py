"""LightGBM baseline: one quantile regressor per quantile plus one direction classifier.

Every booster is trained with LightGBM's deterministic settings on one thread and saved as a
text model, so the same data, parameters and seed give byte-identical files whatever the
thread count. ``threads`` sets how many boosters train at once instead: on a few thousand
rows OpenMP threads inside one booster spend more time waiting for each other than working,
and on a busy machine a descheduled thread stalls the others at every barrier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import lightgbm as lgb
import numpy as np
import pandas as pd

from zlflow.errors import ModelError
from zlflow.markers import write_json_atomic
from zlflow.models.base import MEDIAN, METADATA_FILE, ForecastModel, quantile_column

if TYPE_CHECKING:
    import optuna

DIRECTION = "direction"
# Set by the model, whatever the caller passes: they decide what is trained or reproducible.
_CONTROLLED = {
    "objective",
    "alpha",
    "metric",
    "deterministic",
    "force_row_wise",
    "force_col_wise",
    "seed",
    "bagging_seed",
    "feature_fraction_seed",
    "data_random_seed",
    "num_threads",
    "verbosity",
}


class LightGBMForecaster(ForecastModel):
    """Gradient-boosted quantiles and direction; fast, and exactly explainable via pred_contrib."""

    name: ClassVar[str] = "lgbm"

    def __init__(
        self,
        quantiles: Sequence[float],
        params: Mapping[str, Any],
        seed: int,
        threads: int = 1,
    ) -> None:
        super().__init__(quantiles, params, seed, threads)
        self._boosters: dict[str, lgb.Booster] = {}

    @staticmethod
    def default_params() -> dict[str, Any]:
        """Modest, regularised trees: a fold of a few thousand rows fits in seconds."""
        return {
            "num_boost_round": 300,
            "learning_rate": 0.03,
            "num_leaves": 15,
            "min_data_in_leaf": 40,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "max_bin": 255,
        }

    @staticmethod
    def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
        """Search space around the defaults, kept small so a trial stays cheap."""
        return {
            "num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
            "num_boost_round": trial.suggest_int("num_boost_round", 100, 600, step=50),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "bagging_freq": trial.suggest_int("bagging_freq", 0, 5),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }

    def _train_params(self) -> tuple[dict[str, Any], int]:
        """LightGBM parameters (defaults, then user, then fixed settings) and boosting rounds."""
        merged = self.default_params() | self.params
        rounds = int(merged.pop("num_boost_round"))
        if rounds < 1:
            raise ModelError(f"num_boost_round must be at least 1, got {rounds}")
        params = {k: v for k, v in merged.items() if k not in _CONTROLLED}
        params.update(
            deterministic=True,
            force_row_wise=True,
            seed=self.seed,
            bagging_seed=self.seed + 1,
            feature_fraction_seed=self.seed + 2,
            data_random_seed=self.seed + 3,
            num_threads=1,
            verbosity=-1,
        )
        return params, rounds

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Self:
        """Train one quantile booster per quantile and a binary booster on ``y > 0``,
        ``threads`` of them at a time (LightGBM releases the GIL while it trains)."""
        target = self._check_fit_inputs(X, y)
        params, rounds = self._train_params()
        tasks = {
            quantile_column(q): (
                params | {"objective": "quantile", "alpha": q, "metric": "quantile"},
                target,
            )
            for q in self.quantiles
        }
        tasks[DIRECTION] = (
            params | {"objective": "binary", "metric": "binary_logloss"},
            (target > 0).astype(float),
        )

        def train(key: str) -> lgb.Booster:
            task_params, label = tasks[key]
            data = lgb.Dataset(X, label=label, free_raw_data=True)
            return lgb.train(task_params, data, num_boost_round=rounds)

        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            self._boosters = dict(zip(tasks, pool.map(train, tasks), strict=True))
        return self

    def booster(self, key: str) -> lgb.Booster:
        """The fitted booster for a quantile column ("q50") or "direction"."""
        self.feature_names  # noqa: B018 - raises if the model is not fitted
        if key not in self._boosters:
            raise ModelError(f"no booster {key!r}; this model has {sorted(self._boosters)}")
        return self._boosters[key]

    def predict_raw_quantiles(self, X: pd.DataFrame) -> np.ndarray:
        """Each quantile booster's prediction, unsorted (the quantiles may cross)."""
        selected = self._select(X)
        columns = [self.booster(quantile_column(q)).predict(selected) for q in self.quantiles]
        return np.column_stack(columns).astype(float)

    def predict_quantiles(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """Quantile predictions sorted along each row, so intervals never invert."""
        return np.sort(self.predict_raw_quantiles(X), axis=1)

    def predict_p_up(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """The direction booster's probability that the forward return is positive."""
        p = self.booster(DIRECTION).predict(self._select(X))
        return np.clip(np.asarray(p, dtype=float), 0.0, 1.0)

    def explain(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
        """Exact TreeSHAP values of the median booster via LightGBM's native pred_contrib."""
        if MEDIAN not in self.quantiles:
            raise ModelError(
                f"explain() needs the 0.5 quantile, but quantiles are {list(self.quantiles)}; "
                "add 0.5 to `quantiles`"
            )
        selected = self._select(X)
        contrib = self.booster(quantile_column(MEDIAN)).predict(selected, pred_contrib=True)
        columns = [*self.feature_names, "base_value"]
        return pd.DataFrame(np.asarray(contrib, dtype=float), index=X.index, columns=columns)

    def save(self, directory: Path) -> None:
        """Write ``q*.txt`` and ``direction.txt`` text models plus ``model.json``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        features = self.feature_names
        for key, booster in self._boosters.items():
            booster.save_model(directory / f"{key}.txt")
        write_json_atomic(
            directory / METADATA_FILE,
            {
                "name": self.name,
                "quantiles": list(self.quantiles),
                "params": self.params,
                "seed": self.seed,
                "threads": self.threads,
                "features": features,
                "boosters": list(self._boosters),
                "lightgbm_version": lgb.__version__,
            },
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Restore a model written by ``save`` (text models predict exactly as before)."""
        directory = Path(directory)
        meta = cls._read_metadata(directory)
        model = cls(meta["quantiles"], meta["params"], seed=meta["seed"], threads=meta["threads"])
        boosters: dict[str, lgb.Booster] = {}
        for key in meta["boosters"]:
            path = directory / f"{key}.txt"
            if not path.is_file():
                raise ModelError(f"{path} is missing; re-run the fit that wrote {directory}")
            boosters[key] = lgb.Booster(model_file=path)
        model._boosters = boosters
        model._features = list(meta["features"])
        return model
