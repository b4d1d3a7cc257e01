"""The model interface and the LightGBM baseline, on synthetic data and the real export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shap

from zlflow.errors import ModelError
from zlflow.explain import BASE_COLUMN, LIVE_FOLD, contributions_long, top_drivers
from zlflow.export import feature_columns
from zlflow.models import MODEL_NAMES, get_model
from zlflow.models.base import ForecastModel, quantile_column
from zlflow.models.lgbm import LightGBMForecaster
from zlflow.warehouse.duckdb import DuckDBWarehouse

QUANTILES = (0.05, 0.1, 0.5, 0.9, 0.95)
FAST = {"num_boost_round": 60}  # enough trees to test behaviour, few enough to be quick


def _synthetic(rows: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, 8)), columns=[f"x{i}" for i in range(8)])
    y = 0.02 * X["x0"] - 0.01 * X["x1"] + rng.normal(scale=0.01, size=rows)
    return X, pd.Series(y, name="target_log_return")


def _fit(X: pd.DataFrame, y: pd.Series, seed: int = 7, **params: Any) -> LightGBMForecaster:
    return LightGBMForecaster(QUANTILES, FAST | params, seed=seed).fit(X, y)


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, pd.Series]:
    return _synthetic()


@pytest.fixture(scope="module")
def fitted(synthetic: tuple[pd.DataFrame, pd.Series]) -> LightGBMForecaster:
    return _fit(*synthetic)


# --- registry and naming ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "column"),
    [(0.05, "q5"), (0.1, "q10"), (0.5, "q50"), (0.9, "q90"), (0.95, "q95"), (0.025, "q2_5")],
)
def test_quantile_column(q: float, column: str) -> None:
    assert quantile_column(q) == column


def test_registry_resolves_and_rejects() -> None:
    assert get_model("lgbm") is LightGBMForecaster
    assert all(
        issubclass(get_model(k), ForecastModel) and get_model(k).name == k for k in MODEL_NAMES
    )
    with pytest.raises(ModelError, match="lgbm"):
        get_model("tft-typo")


@pytest.mark.parametrize("quantiles", [[], [0.9, 0.1], [0.1, 0.1], [0.0, 0.5], [0.5, 1.2]])
def test_bad_quantiles_raise(quantiles: list[float]) -> None:
    with pytest.raises(ModelError, match="quantile"):
        LightGBMForecaster(quantiles, {}, seed=1)


# --- predictions ------------------------------------------------------------------------


def test_shapes_sorted_quantiles_and_probabilities(
    fitted: LightGBMForecaster, synthetic: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = synthetic
    q = fitted.predict_quantiles(X)
    p = fitted.predict_p_up(X)
    assert q.shape == (len(X), len(QUANTILES))
    assert p.shape == (len(X),)
    assert (np.diff(q, axis=1) >= 0).all()
    assert ((p >= 0) & (p <= 1)).all()
    assert fitted.feature_names == list(X.columns)


def test_predict_selects_fitted_columns_and_names_missing(
    fitted: LightGBMForecaster, synthetic: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = synthetic
    reordered = X[list(reversed(X.columns))].assign(extra=1.0)
    np.testing.assert_array_equal(fitted.predict_quantiles(reordered), fitted.predict_quantiles(X))
    with pytest.raises(ModelError, match="x3"):
        fitted.predict_p_up(X.drop(columns="x3"))


def test_unfitted_model_raises() -> None:
    X, _ = _synthetic(50)
    with pytest.raises(ModelError, match="not fitted"):
        LightGBMForecaster(QUANTILES, {}, seed=1).predict_quantiles(X)


def test_quantiles_cover_held_out_gaussian_sample() -> None:
    X, y = _synthetic(4000, seed=3)
    train, test = slice(0, 3000), slice(3000, None)
    params = {"num_boost_round": 150}  # the 300 default rounds overfit 3,000 rows a bit
    model = LightGBMForecaster([0.1, 0.5, 0.9], params, seed=3).fit(X.iloc[train], y.iloc[train])
    q = model.predict_quantiles(X.iloc[test])
    truth = y.iloc[test].to_numpy()
    coverage = float(((truth >= q[:, 0]) & (truth <= q[:, 2])).mean())
    assert 0.70 <= coverage <= 0.90, coverage
    accuracy = float(((model.predict_p_up(X.iloc[test]) > 0.5) == (truth > 0)).mean())
    assert accuracy > 0.8, accuracy


# --- determinism and persistence ----------------------------------------------------------


def test_same_seed_gives_identical_files_and_predictions(
    synthetic: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    X, y = synthetic
    first, second = _fit(X, y), _fit(X, y)
    first.save(tmp_path / "a")
    second.save(tmp_path / "b")
    files = _files(tmp_path / "a")
    assert set(files) == {
        *(f"{quantile_column(q)}.txt" for q in QUANTILES),
        "direction.txt",
        "model.json",
    }
    assert files == _files(tmp_path / "b")
    np.testing.assert_array_equal(first.predict_quantiles(X), second.predict_quantiles(X))
    np.testing.assert_array_equal(first.predict_p_up(X), second.predict_p_up(X))


def test_boosters_are_the_same_whatever_the_thread_count(
    synthetic: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    """``threads`` trains boosters side by side, each on one thread: the models match."""
    X, y = synthetic
    params = FAST | {"bagging_fraction": 0.7, "bagging_freq": 1}
    for threads in (1, 3):
        model = LightGBMForecaster(QUANTILES, params, seed=7, threads=threads).fit(X, y)
        model.save(tmp_path / str(threads))
    one, three = _files(tmp_path / "1"), _files(tmp_path / "3")
    assert one.pop("model.json") != three.pop("model.json")  # records the thread count
    assert one == three


def test_other_seed_changes_bagged_model(synthetic: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = synthetic
    params = {"bagging_fraction": 0.7, "bagging_freq": 1}
    one, other = _fit(X, y, seed=7, **params), _fit(X, y, seed=8, **params)
    assert not np.array_equal(one.predict_raw_quantiles(X), other.predict_raw_quantiles(X))


def test_save_load_round_trip(
    fitted: LightGBMForecaster, synthetic: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    X, _ = synthetic
    fitted.save(tmp_path)
    loaded = get_model("lgbm").load(tmp_path)
    assert loaded.feature_names == fitted.feature_names
    assert loaded.quantiles == fitted.quantiles
    np.testing.assert_array_equal(loaded.predict_quantiles(X), fitted.predict_quantiles(X))
    np.testing.assert_array_equal(loaded.predict_p_up(X), fitted.predict_p_up(X))
    pd.testing.assert_frame_equal(loaded.explain(X), fitted.explain(X))


def test_load_of_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model\.json"):
        LightGBMForecaster.load(tmp_path)


# --- inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_text_column_raises_naming_it(dtype: str) -> None:
    X, y = _synthetic(200)
    X["venue"] = pd.Series(["cbot", "dce"] * 100, dtype=dtype)
    with pytest.raises(ModelError, match="venue"):
        _fit(X, y)


def test_category_column_fits_predicts_and_round_trips(tmp_path: Path) -> None:
    X, y = _synthetic(600)
    X["regime"] = pd.Categorical(np.where(X["x2"] > 0, "high", "low"))
    model = _fit(X, y)
    model.save(tmp_path)
    loaded = LightGBMForecaster.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict_quantiles(X), model.predict_quantiles(X))
    assert model.explain(X).columns[-2:].tolist() == ["regime", BASE_COLUMN]


def test_missing_target_raises() -> None:
    X, y = _synthetic(100)
    y.iloc[5] = np.nan
    with pytest.raises(ModelError, match="missing"):
        _fit(X, y)


# --- explanations ----------------------------------------------------------------------------


def test_contributions_sum_to_raw_median(
    fitted: LightGBMForecaster, synthetic: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = synthetic
    wide = fitted.explain(X)
    assert wide.index.equals(X.index)
    assert wide.columns.tolist() == [*X.columns, BASE_COLUMN]
    median = fitted.predict_raw_quantiles(X)[:, QUANTILES.index(0.5)]
    np.testing.assert_allclose(wide.sum(axis=1).to_numpy(), median, rtol=0, atol=1e-9)
    # The signal features drive the median most.
    assert set(wide[X.columns].abs().mean().nlargest(2).index) == {"x0", "x1"}


def test_explain_needs_the_median(synthetic: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = synthetic
    model = LightGBMForecaster([0.1, 0.9], FAST, seed=1).fit(X, y)
    with pytest.raises(ModelError, match=r"0\.5"):
        model.explain(X)


def test_contributions_long_and_top_drivers(
    fitted: LightGBMForecaster, synthetic: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = synthetic
    rows = X.iloc[:20]
    dates = pd.Series(pd.bdate_range("2024-01-01", periods=20), index=rows.index)
    wide = fitted.explain(rows)
    long = contributions_long(wide, dates, "lgbm", "live")
    assert long.columns.tolist() == ["date", "model", "fold", "feature", "value", BASE_COLUMN]
    assert len(long) == 20 * X.shape[1]
    assert str(long["date"].dtype) == "datetime64[us]"
    assert long["fold"].dtype == "int64" and (long["fold"] == LIVE_FOLD).all()
    assert BASE_COLUMN not in set(long["feature"])
    rebuilt = long.groupby("date")["value"].sum() + long.groupby("date")[BASE_COLUMN].first()
    np.testing.assert_allclose(rebuilt.to_numpy(), wide.sum(axis=1).to_numpy(), atol=1e-12)
    top = top_drivers(long, 3)
    assert top.columns.tolist() == ["feature", "mean_abs", "mean", "rows"]
    assert len(top) == 3 and top["mean_abs"].is_monotonic_decreasing
    assert set(top["feature"][:2]) == {"x0", "x1"}


# --- the real exported training data ----------------------------------------------------------


@pytest.fixture(scope="module")
def frame(built_warehouse: Path, config: dict[str, Any]) -> pd.DataFrame:
    with DuckDBWarehouse(built_warehouse, config["datasets"]) as warehouse:
        table = warehouse.query_arrow("SELECT * FROM ${training}.vw_zl_1m_v1")
    return table.to_pandas().sort_values("trade_date").reset_index(drop=True)


def _train_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    train = frame[frame["split"] == "train"]
    return train[feature_columns(list(frame.columns))], train["target_log_return"]


@pytest.fixture(scope="module")
def real_model(frame: pd.DataFrame) -> LightGBMForecaster:
    """The default LightGBM model fitted on the real train rows (the workflow's settings)."""
    return LightGBMForecaster(QUANTILES, {}, seed=42).fit(*_train_rows(frame))


def test_real_data_predictions(real_model: LightGBMForecaster, frame: pd.DataFrame) -> None:
    X = frame[frame["split"] == "validation"][real_model.feature_names]
    q = real_model.predict_quantiles(X)
    assert q.shape == (len(X), 5) and np.isfinite(q).all()
    assert (np.diff(q, axis=1) >= 0).all()
    p = real_model.predict_p_up(X)
    assert ((p >= 0) & (p <= 1)).all()


def test_native_contributions_match_shap_tree_explainer(
    real_model: LightGBMForecaster, frame: pd.DataFrame
) -> None:
    X = frame[frame["split"] == "validation"][real_model.feature_names].iloc[:200]
    native = real_model.explain(X)
    explainer = shap.TreeExplainer(real_model.booster("q50"))
    reference = np.asarray(explainer.shap_values(X))
    np.testing.assert_allclose(
        native[real_model.feature_names].to_numpy(), reference, rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(
        native[BASE_COLUMN].to_numpy(), float(np.ravel(explainer.expected_value)[0]), atol=1e-6
    )
    median = real_model.predict_raw_quantiles(X)[:, QUANTILES.index(0.5)]
    np.testing.assert_allclose(native.sum(axis=1).to_numpy(), median, rtol=0, atol=1e-9)


def test_fit_ignores_rows_after_the_training_cutoff(
    real_model: LightGBMForecaster, frame: pd.DataFrame, tmp_path: Path
) -> None:
    cutoff = frame.loc[frame["split"] == "train", "trade_date"].max()
    later = frame["trade_date"] > cutoff
    assert later.sum() > 100
    altered = frame.copy()
    rng = np.random.default_rng(0)
    columns = [*real_model.feature_names, "target_log_return", "close"]
    for column in columns:
        values = altered.loc[later, column].to_numpy()
        altered.loc[later, column] = rng.permutation(values) * 3.0 + 1.0
    assert not altered.loc[later, columns].equals(frame.loc[later, columns])
    real_model.save(tmp_path / "original")
    refit = LightGBMForecaster(QUANTILES, {}, seed=42).fit(*_train_rows(altered))
    refit.save(tmp_path / "altered")
    assert _files(tmp_path / "altered") == _files(tmp_path / "original")
