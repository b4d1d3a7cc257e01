"""Feature contributions in a long table, so folds, models and the live forecast stack up.

A long row is (date, model, fold, feature, value, base_value). ``fold`` is an int64 fold
number, with ``LIVE_FOLD`` (-1) for the live model trained on every known row. The model's
base value (its expected prediction) is not a feature, so it gets no rows of its own; it
is repeated in the ``base_value`` column instead, where the sum of a date's ``value``
plus its ``base_value`` is the raw median prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BASE_COLUMN = "base_value"
LIVE_FOLD = -1
LONG_COLUMNS = ("date", "model", "fold", "feature", "value", BASE_COLUMN)


def _fold_number(fold: int | str) -> int:
    if fold == "live":
        return LIVE_FOLD
    if isinstance(fold, str) and not fold.lstrip("-").isdigit():
        raise ValueError(f"fold must be an integer or 'live', got {fold!r}")
    return int(fold)


def contributions_long(
    wide: pd.DataFrame, dates: pd.Series, model: str, fold: int | str
) -> pd.DataFrame:
    """Reshape ``ForecastModel.explain`` output to one row per (date, feature).

    ``dates`` gives the trade date of each row of ``wide``, by position. ``fold`` is a fold
    number or "live" (stored as -1).
    """
    if BASE_COLUMN not in wide.columns:
        raise ValueError(f"wide contributions lack a {BASE_COLUMN!r} column: {list(wide.columns)}")
    if len(dates) != len(wide):
        raise ValueError(f"{len(dates)} dates for {len(wide)} contribution rows")
    features = [str(c) for c in wide.columns if c != BASE_COLUMN]
    values = wide[features].to_numpy(dtype="float64")
    n_rows, n_features = values.shape
    day = pd.to_datetime(pd.Series(dates)).to_numpy().astype("datetime64[us]")
    return pd.DataFrame(
        {
            "date": np.repeat(day, n_features),
            "model": pd.Series([model] * (n_rows * n_features), dtype="str"),
            "fold": np.full(n_rows * n_features, _fold_number(fold), dtype="int64"),
            "feature": pd.Series(features * n_rows, dtype="str"),
            "value": values.ravel(),
            BASE_COLUMN: np.repeat(wide[BASE_COLUMN].to_numpy(dtype="float64"), n_features),
        },
        columns=list(LONG_COLUMNS),
    )


def weights_long(
    wide: pd.DataFrame | None, dates: pd.Series, model: str, fold: int | str
) -> pd.DataFrame:
    """A model's interpretation weights (variable selection, attention) in the same long
    format as its contributions, ``base_value`` empty; no rows when it has none."""
    if wide is None:
        return contributions_long(pd.DataFrame({BASE_COLUMN: []}), dates.iloc[:0], model, fold)
    return contributions_long(wide.assign(**{BASE_COLUMN: np.nan}), dates, model, fold)


def top_drivers(long: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` features with the largest mean absolute contribution, largest first.

    Columns: feature, mean_abs, mean (signed: the usual direction of the push), rows.
    """
    grouped = long.assign(abs_value=long["value"].abs()).groupby("feature", sort=True)
    table = pd.DataFrame(
        {
            "mean_abs": grouped["abs_value"].mean(),
            "mean": grouped["value"].mean(),
            "rows": grouped["value"].size().astype("int64"),
        }
    ).reset_index()
    table = table.sort_values(["mean_abs", "feature"], ascending=[False, True], kind="stable")
    return table.head(n).reset_index(drop=True)
