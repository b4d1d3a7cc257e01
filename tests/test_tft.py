"""The Temporal Fusion Transformer: its blocks, its data windows and the "tft" model.

Sizes are tiny (hidden 8, encoder 20, horizon 5, 1-2 epochs) so the file runs in well
under a minute on two cores; behaviour, not accuracy, is under test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from zlflow.errors import ModelError
from zlflow.explain import BASE_COLUMN, LONG_COLUMNS, weights_long
from zlflow.export import feature_columns
from zlflow.models import get_model
from zlflow.models.tft import TFTForecaster
from zlflow.models.tft.data import (
    Standardizer,
    Windows,
    calendar_codes,
    epoch_order,
    future_calendar_codes,
    split_origins,
    step_targets,
)
from zlflow.models.tft.layers import (
    Dropout,
    GatedLinearUnit,
    GatedResidualNetwork,
    InterpretableMultiHeadAttention,
    QuantileLoss,
    StaticCovariateEncoder,
    VariableSelectionNetwork,
    causal_mask,
)
from zlflow.models.tft.model import TemporalFusionTransformer, TFTConfig
from zlflow.models.tft.optim import FlatAdamW
from zlflow.warehouse.duckdb import DuckDBWarehouse

QUANTILES = (0.1, 0.5, 0.9)
HORIZON = 5
LENGTH = 20
TINY = {
    "hidden_size": 8,
    "attention_heads": 2,
    "encoder_length": LENGTH,
    "horizon": HORIZON,
    "max_epochs": 2,
    "batch_size": 32,
    "explain_steps": 16,
    "device": "cpu",
}
ROWS, TRAIN_ROWS = 360, 300


def _frame(rows: int = ROWS, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Dated features with a daily return column; y is the sum of the next HORIZON returns."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    ret = 0.004 * np.roll(signal, -1) + rng.normal(scale=0.01, size=rows)
    X = pd.DataFrame(
        {"ret_1d": ret, "signal": signal, "noise": rng.normal(size=rows)},
        index=pd.bdate_range("2015-01-05", periods=rows, name="trade_date"),
    )
    level = np.concatenate([[0.0], np.cumsum(ret)])
    ahead = np.minimum(np.arange(rows) + HORIZON, rows - 1)
    y = pd.Series(level[ahead + 1] - level[np.arange(rows) + 1], index=X.index)
    return X, y


def _fit(X: pd.DataFrame, y: pd.Series, seed: int = 3, **params: Any) -> TFTForecaster:
    return TFTForecaster(QUANTILES, TINY | params, seed=seed).fit(X, y)


def _state(model: TFTForecaster) -> dict[str, torch.Tensor]:
    assert model._net is not None
    return model._net.state_dict()


def _assert_same_state(a: TFTForecaster, b: TFTForecaster) -> None:
    left, right = _state(a), _state(b)
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), key


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Single-threaded torch: two spinning threads on a busy 2-core box run 20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return _frame()


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, pd.Series]) -> TFTForecaster:
    X, y = data
    return _fit(X.iloc[:TRAIN_ROWS], y.iloc[:TRAIN_ROWS])


def _split(data: tuple[pd.DataFrame, pd.Series]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows to predict and the history before them."""
    X, _ = data
    return X.iloc[TRAIN_ROWS:], X.iloc[:TRAIN_ROWS]


# --- layers ----------------------------------------------------------------------------------


def test_glu_and_grn_shapes_with_and_without_context() -> None:
    x = torch.randn(4, 7, 6)
    assert GatedLinearUnit(6, 5)(x).shape == (4, 7, 5)
    grn = GatedResidualNetwork(6, 8, 3, dropout=0.1, context_size=2)
    out = grn(x, torch.randn(4, 2))
    assert out.shape == (4, 7, 3)
    # The output is layer-normalised (unit affine at initialisation).
    assert torch.allclose(out.mean(-1), torch.zeros(4, 7), atol=1e-5)
    per_variable = GatedResidualNetwork(6, 8, 5, variables=3)  # variable-major input
    assert per_variable(torch.randn(3, 4, 7, 6)).shape == (3, 4, 7, 5)


def test_per_variable_grn_keeps_variables_apart() -> None:
    grn = GatedResidualNetwork(4, 8, 4, variables=3).eval()
    x = torch.randn(3, 2, 4)
    changed = x.clone()
    changed[2] += 1.0
    a, b = grn(x), grn(changed)
    assert torch.equal(a[:2], b[:2])
    assert not torch.equal(a[2], b[2])


def test_variable_selection_weights_sum_to_one() -> None:
    vsn = VariableSelectionNetwork(variables=5, input_size=8, hidden_size=8, context_size=8)
    combined, weights = vsn(torch.randn(3, 11, 5, 8), torch.randn(3, 8))
    assert combined.shape == (3, 11, 8)
    assert weights.shape == (3, 11, 5)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 11))


def test_shared_row_selection_equals_selection_of_stacked_windows() -> None:
    torch.manual_seed(0)
    vsn = VariableSelectionNetwork(variables=5, input_size=4, hidden_size=8, context_size=4)
    vsn.eval()
    rows = torch.randn(9, 3, 4)  # 9 data rows, 3 row-wise variables
    index = torch.tensor([[0, 1, 2, 3], [2, 3, 4, 5], [5, 6, 7, 8]])  # overlapping windows
    window = torch.randn(3, 4, 2, 4)  # 2 per-sample variables
    context = torch.randn(3, 4)
    shared, shared_weights = vsn.forward_shared(rows, index, window, context)
    stacked, weights = vsn(torch.cat([rows[index], window], dim=-2), context)
    torch.testing.assert_close(shared, stacked)
    torch.testing.assert_close(shared_weights, weights)


def test_static_encoder_gives_four_contexts() -> None:
    contexts = StaticCovariateEncoder(8)(torch.randn(3, 8))
    assert len(contexts) == 4
    assert all(c.shape == (3, 8) for c in contexts)


def test_attention_is_causal_and_shares_values() -> None:
    torch.manual_seed(0)
    attention = InterpretableMultiHeadAttention(8, heads=2).eval()
    assert attention.value.out_features == 4  # one value projection for every head
    x = torch.randn(2, 6, 8)
    mask = causal_mask(6, 6, offset=0)
    out, weights = attention(x, x, x, mask)
    assert out.shape == (2, 6, 8) and weights.shape == (2, 6, 6)
    assert torch.equal(weights.triu(diagonal=1), torch.zeros_like(weights))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 6))
    later = x.clone()
    later[:, 4:] = torch.randn(2, 2, 8)
    changed, _ = attention(later, later, later, mask)
    torch.testing.assert_close(changed[:, :4], out[:, :4], rtol=0, atol=0)


def test_quantile_loss_values_and_mask() -> None:
    loss = QuantileLoss([0.1, 0.9])
    predicted = torch.tensor([[0.0, 0.0]])
    # Error +1: 0.1 * 1 and 0.9 * 1; error -1: 0.9 and 0.1; both average to 0.5.
    assert float(loss(predicted, torch.tensor([1.0]))) == pytest.approx(0.5)
    assert float(loss(predicted, torch.tensor([-1.0]))) == pytest.approx(0.5)
    targets = torch.tensor([2.0, float("nan")])
    value = loss(torch.zeros(2, 2), targets, torch.tensor([True, False]))
    assert float(value) == pytest.approx(1.0)


# --- the network ---------------------------------------------------------------------------


def _network(dropout: float = 0.1, seed: int = 0) -> TemporalFusionTransformer:
    torch.manual_seed(seed)
    config = TFTConfig(
        observed=3,
        encoder_length=LENGTH,
        horizon=HORIZON,
        quantiles=3,
        hidden_size=8,
        attention_heads=2,
        dropout=dropout,
        known_categories=(7, 12),
    )
    return TemporalFusionTransformer(config)


def _inputs(batch: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    observed = torch.randn(batch, LENGTH, 3, 2, generator=generator)
    observed[..., 1] = 0.0
    known = torch.stack(
        [
            torch.randint(0, 7, (batch, LENGTH + HORIZON), generator=generator),
            torch.randint(0, 12, (batch, LENGTH + HORIZON), generator=generator),
        ],
        dim=-1,
    )
    return observed, known


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_hidden_continuous_narrows_only_the_per_variable_layers() -> None:
    sizes = {"observed": 25, "encoder_length": LENGTH, "horizon": HORIZON, "quantiles": 5}
    sizes |= {"hidden_size": 16, "known_categories": (7, 12)}
    paper = TemporalFusionTransformer(TFTConfig(**sizes))
    narrow = TemporalFusionTransformer(TFTConfig(**sizes, hidden_continuous=8))
    same = TemporalFusionTransformer(TFTConfig(**sizes, hidden_continuous=16))
    assert _parameters(narrow) < 0.7 * _parameters(paper)
    # Equal widths are the paper's network, which older saved models hold.
    assert same.state_dict().keys() == paper.state_dict().keys()
    assert all(v.shape == paper.state_dict()[k].shape for k, v in same.state_dict().items())
    assert narrow.encoder_lstm.weight_ih_l0.shape == paper.encoder_lstm.weight_ih_l0.shape
    assert narrow.encoder_selection.variable_grn.fc1.weight.shape == (28, 8, 8)
    out = narrow.eval()(torch.randn(2, LENGTH, 25, 2), _inputs(2)[1])
    assert out.quantiles.shape == (2, HORIZON, 5)
    torch.testing.assert_close(out.encoder_weights.sum(-1), torch.ones(2, LENGTH))


def test_config_without_hidden_continuous_loads_as_equal_widths() -> None:
    config = _network().config.to_dict()
    del config["hidden_continuous"]  # written before the setting existed
    restored = TFTConfig.from_dict(config)
    assert restored.hidden_continuous is None and restored.variable_size == 8


def _toy_loss(out: Any) -> torch.Tensor:
    """Touches every parameter, as the training loss does (AdamW skips None gradients)."""
    return out.quantiles.square().mean() + out.direction_logit.sigmoid().mean()


def test_flat_adamw_matches_torch_adamw_with_clipping() -> None:
    torch.manual_seed(0)
    ours, theirs = _network(dropout=0.0), _network(dropout=0.0)
    observed, known = _inputs(8)
    optimizer = FlatAdamW(ours.parameters(), lr=1e-2, weight_decay=1e-2)
    reference = torch.optim.AdamW(theirs.parameters(), lr=1e-2, weight_decay=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        _toy_loss(ours(observed, known)).backward()
        optimizer.clip_grad_norm(0.1)
        optimizer.step()
        reference.zero_grad()
        _toy_loss(theirs(observed, known)).backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.1)
        reference.step()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
    assert ours.encoder_lstm.weight_hh_l0.data_ptr() != theirs.encoder_lstm.weight_hh_l0.data_ptr()


def test_network_output_shapes() -> None:
    out = _network().eval()(*_inputs(4))
    assert out.quantiles.shape == (4, HORIZON, 3)
    assert out.direction_logit.shape == (4,)
    assert out.encoder_weights.shape == (4, LENGTH, 3 + 3)
    assert out.decoder_weights.shape == (4, HORIZON, 3)
    assert out.static_weights.shape == (4, 1)
    assert out.attention.shape == (4, HORIZON, LENGTH + HORIZON)
    torch.testing.assert_close(out.encoder_weights.sum(-1), torch.ones(4, LENGTH))
    torch.testing.assert_close(out.decoder_weights.sum(-1), torch.ones(4, HORIZON))


def test_network_gives_the_same_forecast_from_shared_rows() -> None:
    net = _network().eval()
    rows = torch.randn(LENGTH + 3, 3, 2)
    rows[..., 1] = 0.0
    windows = Windows.build(rows.numpy(), LENGTH)
    origins = torch.arange(LENGTH - 1, LENGTH + 3)
    _, known = _inputs(4)
    with torch.no_grad():
        stacked = net(windows.batch(origins)[0], known)
        distinct, index, _ = windows.shared(origins)
        shared = net(distinct, known, index)
    assert len(distinct) == LENGTH + 3  # four windows, 23 distinct rows
    torch.testing.assert_close(shared.quantiles, stacked.quantiles)
    torch.testing.assert_close(shared.direction_logit, stacked.direction_logit)


def test_network_is_causal_over_decoder_steps() -> None:
    net = _network().eval()
    observed, known = _inputs(4)
    with torch.no_grad():
        out = net(observed, known)
        later = known.clone()
        later[:, -1] = (later[:, -1] + 3) % 7  # change the last decoder step's calendar
        changed = net(observed, later)
    torch.testing.assert_close(changed.quantiles[:, :-1], out.quantiles[:, :-1], rtol=0, atol=0)
    assert not torch.equal(changed.quantiles[:, -1], out.quantiles[:, -1])
    # No decoder step attends to a later one.
    future = out.attention[:, :, LENGTH:].triu(diagonal=1)
    assert torch.equal(future, torch.zeros_like(future))


def test_network_overfits_a_tiny_batch() -> None:
    net = _network(dropout=0.0)
    observed, known = _inputs(16)
    targets = torch.randn(16, HORIZON, generator=torch.Generator().manual_seed(2))
    loss_fn = QuantileLoss([0.1, 0.5, 0.9])
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        loss = loss_fn(net(observed, known).quantiles, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0], (losses[0], losses[-1])


# --- data --------------------------------------------------------------------------------


def test_standardizer_imputes_with_indicators() -> None:
    values = np.array([[1.0, 5.0], [3.0, np.nan], [np.nan, 5.0]])
    scaler = Standardizer.fit(values)
    np.testing.assert_allclose(scaler.mean, [2.0, 5.0])
    np.testing.assert_allclose(scaler.scale, [1.0, 1.0])  # constant column: scale 1
    rows = scaler.transform(values, clip=10.0)
    assert rows.shape == (3, 2, 2) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[..., 1], [[0, 0], [0, 1], [1, 0]])
    np.testing.assert_array_equal(rows[..., 0], [[-1, 0], [1, 0], [0, 0]])
    restored = Standardizer.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(restored.mean, scaler.mean)
    np.testing.assert_array_equal(restored.scale, scaler.scale)
    assert scaler.transform(np.array([[1e9, 5.0]]), clip=4.0)[0, 0, 0] == 4.0


def test_step_targets_are_cumulative_and_masked_at_the_end() -> None:
    returns = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    final = np.array([6.0, 9.0, 12.0, 0.5, 0.6, 0.7])  # y for horizon 3
    targets, mask = step_targets(final, returns, 3)
    np.testing.assert_array_equal(targets[0], [1.0, 3.0, 6.0])
    np.testing.assert_array_equal(targets[2], [3.0, 7.0, 12.0])
    # Row 4's step 1 needs row 5 (present); step 2 would need row 6 (absent).
    np.testing.assert_array_equal(mask[4], [True, False, True])
    np.testing.assert_array_equal(mask[5], [False, False, True])
    assert targets[5, -1] == 0.7
    returns[2] = np.nan
    _, mask = step_targets(final, returns, 3)
    np.testing.assert_array_equal(mask[0], [True, False, True])
    _, mask = step_targets(final, None, 3)
    assert mask[:, :-1].sum() == 0


def test_validation_is_purged_from_training_targets() -> None:
    train, valid = split_origins(rows=300, encoder_length=20, horizon=5, validation_fraction=0.1)
    assert train[0] == 19 and valid[-1] == 299
    assert len(valid) == int(281 * 0.1)
    # A training target spans t+1..t+h: all of them end before the first validation row.
    assert train[-1] + 5 < valid[0]
    # Too few origins for a validation slice: all of them train, nothing early-stops.
    train, valid = split_origins(rows=28, encoder_length=20, horizon=5, validation_fraction=0.1)
    assert len(valid) == 0 and train.tolist() == list(range(19, 28))


def _whole_runs(positions: list[int], run: int, shift: int) -> bool:
    """Whether ``positions`` is runs ``(p + shift) // run``, each drawn once, whole, in order."""
    runs = [list(g) for _, g in itertools.groupby(positions, key=lambda p: (p + shift) // run)]
    blocks = [(r[0] + shift) // run for r in runs]
    return len(set(blocks)) == len(blocks) and all(
        r == list(range(r[0], r[0] + len(r))) for r in runs
    )


def test_epoch_order_draws_runs_of_consecutive_positions() -> None:
    def order(count: int, run: int, seed: int = 0) -> list[int]:
        return epoch_order(count, run, torch.Generator().manual_seed(seed)).tolist()

    # One position per run is plain randperm, so earlier runs' batches are unchanged.
    assert order(50, 1) == torch.randperm(50, generator=torch.Generator().manual_seed(0)).tolist()
    for seed in range(5):
        positions = order(50, 4, seed)
        assert sorted(positions) == list(range(50))
        assert any(_whole_runs(positions, 4, shift) for shift in range(4))
    assert len({tuple(order(50, 4, seed)) for seed in range(5)}) == 5
    assert order(0, 4) == [] and order(1, 4) == [0]


def test_windows_are_views_of_the_rows() -> None:
    rows = np.arange(10 * 3 * 2, dtype=np.float32).reshape(10, 3, 2)
    dates = pd.bdate_range("2024-01-01", periods=10)
    windows = Windows.build(rows, 4, calendar_codes(dates), future_calendar_codes(dates, 2))
    assert windows.observed.shape == (7, 4, 3, 2)
    assert windows.observed.untyped_storage().data_ptr() == torch.from_numpy(rows).data_ptr()
    observed, known = windows.batch(torch.tensor([3, 9]))
    np.testing.assert_array_equal(observed[0].numpy(), rows[0:4])
    np.testing.assert_array_equal(observed[1].numpy(), rows[6:10])
    assert known is not None and known.shape == (2, 6, 2)


def test_calendar_codes_and_business_day_decoder_dates() -> None:
    friday = pd.DatetimeIndex(["2024-05-31"])  # a Friday at a month end
    np.testing.assert_array_equal(calendar_codes(friday), [[4, 4]])
    future = future_calendar_codes(friday, 3)
    np.testing.assert_array_equal(future[0], [[0, 5], [1, 5], [2, 5]])  # Mon-Wed in June


# --- the forecaster ------------------------------------------------------------------------


def test_registry_knows_tft() -> None:
    assert get_model("tft") is TFTForecaster


def test_predictions_sorted_probabilities_and_shapes(
    fitted: TFTForecaster, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, history = _split(data)
    q = fitted.predict_quantiles(X, history)
    raw = fitted.predict_raw_quantiles(X, history)
    p = fitted.predict_p_up(X, history)
    assert q.shape == (len(X), 3) and p.shape == (len(X),)
    assert (np.diff(q, axis=1) >= 0).all()
    np.testing.assert_array_equal(q, np.sort(raw, axis=1))
    assert np.isfinite(q).all() and ((p > 0) & (p < 1)).all()
    assert fitted.training_summary["epochs"] == 2
    assert fitted.training_summary["validation_origins"] > 0


def test_prediction_uses_earlier_rows_of_x_as_history(
    fitted: TFTForecaster, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, history = _split(data)
    together = fitted.predict_quantiles(X.iloc[:10], history)
    later = fitted.predict_quantiles(X.iloc[5:10], pd.concat([history, X.iloc[:5]]))
    np.testing.assert_allclose(later, together[5:], rtol=0, atol=1e-6)


def test_short_history_raises_clearly(
    fitted: TFTForecaster, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, history = _split(data)
    with pytest.raises(ModelError, match=r"needs at least 19 rows of `history`"):
        fitted.predict_quantiles(X, history.iloc[-10:])
    with pytest.raises(ModelError, match="history"):
        fitted.predict_p_up(X)
    with pytest.raises(ModelError, match="date-indexed"):
        fitted.predict_quantiles(X.reset_index(drop=True), history.reset_index(drop=True))


def test_same_seed_gives_identical_weights_and_restores_torch_settings(
    fitted: TFTForecaster, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = data
    threads = torch.get_num_threads()
    again = _fit(X.iloc[:TRAIN_ROWS], y.iloc[:TRAIN_ROWS])
    _assert_same_state(fitted, again)
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
    other = _fit(X.iloc[:TRAIN_ROWS], y.iloc[:TRAIN_ROWS], seed=4)
    head = "quantile_head.weight"
    assert not torch.equal(_state(other)[head], _state(fitted)[head])


def test_rows_after_training_cannot_leak(
    fitted: TFTForecaster, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = data
    altered, altered_y = X.copy(), y.copy()
    rng = np.random.default_rng(9)
    later = np.arange(len(X)) >= TRAIN_ROWS
    altered.loc[later] = rng.normal(size=(later.sum(), X.shape[1])) * 3.0 + 1.0
    altered_y.loc[later] = rng.normal(size=later.sum())
    # The workflow passes only the training rows to fit; anything after them (test rows,
    # the `history` used for prediction) must not matter, however it is changed.
    refit = _fit(altered.iloc[:TRAIN_ROWS], altered_y.iloc[:TRAIN_ROWS])
    _assert_same_state(fitted, refit)


def test_save_load_round_trip(
    fitted: TFTForecaster, data: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    X, history = _split(data)
    fitted.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"model.json", "model.pt"}
    # The same weights give the same bytes (the archive is not named after a temp file).
    fitted.save(tmp_path / "again")
    for name in ("model.json", "model.pt"):
        assert (tmp_path / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    loaded = get_model("tft").load(tmp_path)
    assert isinstance(loaded, TFTForecaster)
    assert loaded.feature_names == fitted.feature_names and loaded.quantiles == fitted.quantiles
    _assert_same_state(fitted, loaded)
    np.testing.assert_array_equal(
        loaded.predict_quantiles(X, history), fitted.predict_quantiles(X, history)
    )
    np.testing.assert_array_equal(loaded.predict_p_up(X, history), fitted.predict_p_up(X, history))


def test_load_of_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model\.json"):
        TFTForecaster.load(tmp_path)


def test_explain_sums_to_raw_median_near_the_baseline(
    fitted: TFTForecaster, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, history = _split(data)
    rows = X.iloc[:8]
    wide = fitted.explain(rows, history)
    assert wide.index.equals(rows.index)
    assert wide.columns.tolist() == [*fitted.feature_names, BASE_COLUMN]
    median = fitted.predict_raw_quantiles(rows, history)[:, QUANTILES.index(0.5)]
    np.testing.assert_allclose(wide.sum(axis=1).to_numpy(), median, rtol=0, atol=1e-7)
    # Integrated gradients are complete: the remainder folded into base_value is small.
    baseline = fitted.baseline_median(rows, history)
    spread = np.abs(median - baseline).max()
    assert np.abs(wide[BASE_COLUMN].to_numpy() - baseline).max() <= 0.05 * spread + 1e-7


def test_variable_importance_and_attention(
    fitted: TFTForecaster, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, history = _split(data)
    rows = X.iloc[:4]
    importance = fitted.variable_importance(rows, history)
    assert importance.index.equals(rows.index)
    encoder = importance["encoder"]
    assert encoder.columns.tolist() == [
        *fitted.feature_names,
        "known_position",
        "known_day_of_week",
        "known_month",
    ]
    np.testing.assert_allclose(encoder.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(importance["decoder"].sum(axis=1), 1.0, atol=1e-5)
    weights = fitted.attention(rows, history)
    assert weights.shape == (4, LENGTH)
    assert ((weights >= 0) & (weights.sum(axis=1, keepdims=True) <= 1 + 1e-6)).all()
    assert fitted.attention(rows, history, step=1).shape == (4, LENGTH)


def test_interpretation_in_the_long_format_of_the_drivers(
    fitted: TFTForecaster, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, history = _split(data)
    rows = X.iloc[:3]
    wide = fitted.interpretation(rows, history)
    encoder = [c for c in wide.columns if c.startswith("encoder:")]
    attention = [c for c in wide.columns if c.startswith("attention:")]
    assert f"encoder:{fitted.feature_names[0]}" in encoder
    assert attention[0] == f"attention:t-{LENGTH - 1}" and attention[-1] == "attention:t-0"
    np.testing.assert_allclose(wide[encoder].sum(axis=1), 1.0, atol=1e-5)
    assert (wide[attention].sum(axis=1) <= 1 + 1e-6).all()
    long = weights_long(wide, pd.Series(rows.index), "tft", 2)
    assert list(long.columns) == list(LONG_COLUMNS)
    assert len(long) == 3 * wide.shape[1] and long[BASE_COLUMN].isna().all()
    assert set(long["date"]) == set(rows.index) and (long["fold"] == 2).all()


def test_horizon_comes_from_the_workflow() -> None:
    assert TFTForecaster.horizon_params(21) == {"horizon": 21}
    assert get_model("lgbm").horizon_params(21) == {}


def test_undated_rows_fit_without_calendar(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    plain = X.reset_index(drop=True)
    model = _fit(plain.iloc[:TRAIN_ROWS], y.iloc[:TRAIN_ROWS].reset_index(drop=True), max_epochs=1)
    q = model.predict_quantiles(plain.iloc[TRAIN_ROWS:], plain.iloc[:TRAIN_ROWS])
    assert q.shape == (ROWS - TRAIN_ROWS, 3)
    importance = model.variable_importance(plain.iloc[TRAIN_ROWS:], plain.iloc[:TRAIN_ROWS])
    assert importance["decoder"].columns.tolist() == ["known_position"]
    with pytest.raises(ModelError, match="before X"):
        model.predict_quantiles(plain.iloc[TRAIN_ROWS:], plain)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hiden_size": 8}, "unknown tft parameters"),
        ({"hidden_size": 9, "attention_heads": 2}, "divisible"),
        ({"encoder_length": 0}, "encoder_length"),
        ({"device": "tpu"}, "device"),
        ({"dropout": 1.5}, "dropout"),
        ({"hidden_continuous": 0}, "hidden_continuous must be an integer >= 1"),
        ({"hidden_continuous": 2.5}, "hidden_continuous must be an integer"),
        ({"consecutive_origins": 0}, "consecutive_origins must be an integer >= 1"),
        ({"hidden_size": 8, "hidden_continuous": 16}, "must not exceed hidden_size"),
    ],
)
def test_bad_params_raise(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        TFTForecaster(QUANTILES, params, seed=1)


def test_too_few_rows_and_categorical_features_raise(
    data: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = data
    with pytest.raises(ModelError, match="encoder_length=20"):
        _fit(X.iloc[:10], y.iloc[:10])
    coded = X.assign(noise=pd.Categorical(np.where(X["noise"] > 0, "hi", "lo")))
    with pytest.raises(ModelError, match="noise"):
        _fit(coded, y)


def test_hidden_continuous_round_trips_through_save_and_load(
    data: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    X, y = data
    model = _fit(X.iloc[:TRAIN_ROWS], y.iloc[:TRAIN_ROWS], max_epochs=1, hidden_continuous=4)
    assert model._network().config.hidden_continuous == 4
    model.save(tmp_path)
    loaded = TFTForecaster.load(tmp_path)
    assert loaded._network().config.hidden_continuous == 4
    assert loaded.settings["hidden_continuous"] == 4
    _assert_same_state(model, loaded)
    X_new, history = _split(data)
    np.testing.assert_array_equal(
        loaded.predict_quantiles(X_new, history), model.predict_quantiles(X_new, history)
    )


def test_optuna_space_builds_valid_params() -> None:
    optuna = pytest.importorskip("optuna")
    trial = optuna.trial.FixedTrial(
        {"hidden_size": 16, "dropout": 0.1, "learning_rate": 1e-3, "encoder_length": 42}
    )
    params = TFTForecaster.default_params() | TFTForecaster.suggest_params(trial)
    assert TFTForecaster(QUANTILES, params, seed=1).settings["encoder_length"] == 42


# --- the real exported training data ---------------------------------------------------------


def test_real_training_view_smoke(warehouse: DuckDBWarehouse) -> None:
    table = warehouse.query_arrow("SELECT * FROM ${training}.vw_zl_1m_v1")
    frame = table.to_pandas()
    frame["trade_date"] = pd.to_datetime(frame["trade_date"])
    frame = frame.sort_values("trade_date").set_index("trade_date")
    features = feature_columns([str(c) for c in frame.columns])
    train = frame[frame["split"] == "train"]
    params = TINY | {"max_epochs": 1, "horizon": int(frame["horizon_days"].iloc[0])}
    model = TFTForecaster((0.025, 0.5, 0.975), params, seed=42)
    model.fit(train[features], train["target_log_return"])
    validation = frame[frame["split"] == "validation"].iloc[:5]
    history = frame.loc[frame.index < validation.index[0], features]
    q = model.predict_quantiles(validation[features], history)
    p = model.predict_p_up(validation[features], history)
    assert q.shape == (5, 3) and np.isfinite(q).all() and (np.diff(q, axis=1) >= 0).all()
    assert ((p > 0) & (p < 1)).all()
    wide = model.explain(validation[features].iloc[:2], history)
    assert wide.columns.tolist() == [*features, BASE_COLUMN]


def test_explain_needs_the_median(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, history = _split(data)
    with pytest.raises(ModelError, match=r"0\.5"):
        TFTForecaster([0.1, 0.9], TINY, seed=1).explain(X, history)


def test_dropout_keeps_one_minus_p_scaled_and_repeats_with_the_seed() -> None:
    """The bit-cut CPU mask: each element kept with probability 1 - p, survivors scaled."""
    dropout = Dropout(0.3).train()
    x = torch.ones(200_000)
    torch.manual_seed(5)
    first = dropout(x)
    kept = first != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005  # ~6 standard errors
    torch.testing.assert_close(first[kept], torch.full_like(first[kept], 1 / 0.7))
    torch.manual_seed(5)
    assert torch.equal(dropout(x), first)
    assert torch.equal(dropout.eval()(x), x)
    # An odd element count uses half of the last 64-bit draw.
    odd = Dropout(0.5).train()(torch.ones(3, 7))
    assert odd.shape == (3, 7)
