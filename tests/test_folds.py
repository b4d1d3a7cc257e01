"""Walk-forward folds: purge of at least the horizon, window kinds, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from zlflow.folds import (
    FoldError,
    FoldSpec,
    fold_rows,
    make_folds,
    rows_fingerprint,
)

HORIZON = 21


def frame(sessions: int = 1500, horizon: int = HORIZON) -> pd.DataFrame:
    dates = pd.bdate_range("2010-01-01", periods=sessions).astype("datetime64[us]")
    data = pd.DataFrame({"trade_date": dates})
    data["target_date"] = data["trade_date"].shift(-horizon)
    data["target_log_return"] = 0.001
    return data


def spec(**overrides: object) -> FoldSpec:
    settings = {
        "window": "expanding",
        "first_test_start": "2013-01-01",
        "test_sessions": 100,
        "step_sessions": 100,
        "min_train_sessions": 300,
    } | overrides
    return FoldSpec.from_config(settings)


def test_expanding_folds_purge_at_least_the_horizon() -> None:
    data = frame()
    folds = make_folds(data, spec(), HORIZON)
    assert len(folds) >= 5
    assert folds["fold"].tolist() == list(range(len(folds)))
    assert (folds["train_start"] == data["trade_date"].iloc[0]).all()
    for fold in folds.to_dict("records"):
        train, test = fold_rows(data, fold)
        assert len(train) == fold["train_rows"] and len(test) == fold["test_rows"] == 100
        # No training target reaches the test window, and the gap is the horizon.
        assert train["target_date"].max() < test["trade_date"].min()
        assert fold["purged_rows"] == HORIZON
        between = data[
            (data["trade_date"] > fold["train_end"]) & (data["trade_date"] < fold["test_start"])
        ]
        assert len(between) >= HORIZON
    # Test windows follow each other by the step, without overlap.
    assert (folds["test_start"].iloc[1:].to_numpy() > folds["test_end"].iloc[:-1].to_numpy()).all()


def test_sliding_window_and_embargo() -> None:
    data = frame()
    folds = make_folds(
        data, spec(window="sliding", train_sessions=400, embargo_sessions=5), HORIZON
    )
    assert (folds["train_rows"] == 400).all()
    assert (folds["purged_rows"] == HORIZON + 5).all()
    assert folds["train_start"].is_monotonic_increasing


def test_live_rows_without_targets_never_enter_a_fold() -> None:
    data = frame()
    folds = make_folds(data, spec(), HORIZON)
    assert folds["test_end"].max() < data.loc[data["target_date"].isna(), "trade_date"].min()


def test_max_folds_caps_the_table() -> None:
    assert len(make_folds(frame(), spec(max_folds=2), HORIZON)) == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"first_test_start": "2010-03-01"}, "fewer than walk_forward.min_train_sessions=300"),
        ({"first_test_start": "2030-01-01"}, "no walk-forward fold fits"),
        ({"window": "sliding"}, "train_sessions is required"),
        ({"window": "rolling"}, "must be expanding or sliding"),
    ],
)
def test_impossible_settings_are_clear_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(FoldError, match=message):
        make_folds(frame(), spec(**overrides), HORIZON)


def test_fingerprints_ignore_float_noise_but_not_real_changes() -> None:
    rows = frame(200).assign(feature=np.linspace(0.1, 2.0, 200), tiny=1e-14, label="a")
    base = rows_fingerprint(rows)
    # last-bit noise from a window sum, and noise below the absolute floor
    noisy = rows.assign(feature=rows["feature"] * (1 + 1e-15), tiny=rows["tiny"] * 3)
    assert rows_fingerprint(noisy) == base
    assert rows_fingerprint(rows.sample(frac=1, random_state=0)) == base  # row order
    revised = rows.copy()
    revised.loc[10, "feature"] *= 1 + 1e-5  # a revision far smaller than a price tick
    relabelled = rows.copy()
    relabelled.loc[20, "label"] = "b"
    appended = pd.concat([rows, frame(201).tail(1).assign(feature=3.0, tiny=0.0, label="a")])
    found = {rows_fingerprint(r) for r in (revised, relabelled, appended, rows.iloc[1:])}
    assert base not in found and len(found) == 4


def test_folds_keep_their_fingerprint_unless_their_rows_change() -> None:
    """Computed from the export alone, with no state kept from earlier runs."""
    data = frame().assign(feature=1.0)
    before = make_folds(data, spec(), HORIZON)
    revised = data.assign(feature=data["feature"] * (1 + 1e-15))  # noise everywhere
    fold1 = before.iloc[1]
    inside = revised["trade_date"] == fold1["test_end"]
    revised.loc[inside, "feature"] = 2.0
    after = make_folds(revised, spec(), HORIZON)
    same = after["fingerprint"] == before["fingerprint"]
    # Expanding windows: the revised date is in fold 1's test window, in fold 2's purge gap
    # (not read: same rows, same fingerprint) and in every later fold's training rows.
    assert same.tolist() == [True, False, True] + [False] * (len(before) - 3)
