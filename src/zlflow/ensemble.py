"""The combined forecast: quantile averaging of models and baselines, weighted by past skill.

At each date, each member's weight is proportional to the inverse of its mean CRPS over the
most recent outcomes matured by that date (equal weights until ``min_history`` have). The
members' calibrated quantiles are averaged level by level (Vincentization) and their
``p_up`` with the same weights; the result is then calibrated online like any other model.
Nothing a weight is learned from was unknown at the date it is used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from zlflow.errors import ZlflowError
from zlflow.metrics import crps_rows
from zlflow.models.base import check_quantiles, quantile_column

ENSEMBLE = "ensemble"
KEEP = (
    "trade_date",
    "target_date",
    "fold",
    "horizon",
    "y_true",
    "close",
    "regime",
    "sigma",
    "p_up_climatology",
)


class EnsembleError(ZlflowError):
    """Members cannot be combined (the message names the member or date)."""


def member_weights(
    losses: np.ndarray,
    trade: np.ndarray,
    target: np.ndarray,
    window: int,
    min_history: int,
) -> np.ndarray:
    """Rows x members weights from losses of rows matured by each row's trade date."""
    n, m = losses.shape
    weights = np.full((n, m), 1.0 / m)
    known = ~pd.isna(target) & np.isfinite(losses).all(axis=1)
    order = [
        i
        for i in np.argsort(np.where(known, target, np.datetime64("NaT")), kind="stable")
        if known[i]
    ]
    matured: list[int] = []
    pointer = 0
    for j in range(n):
        while pointer < len(order) and target[order[pointer]] <= trade[j]:
            matured.append(order[pointer])
            pointer += 1
        if len(matured) < min_history:
            continue
        mean_loss = losses[matured[-window:]].mean(axis=0)
        inverse = 1.0 / np.maximum(mean_loss, 1e-12)
        weights[j] = inverse / inverse.sum()
    return weights


def combine(
    members: pd.DataFrame,
    quantiles: Sequence[float],
    window: int,
    min_history: int,
) -> pd.DataFrame:
    """One ensemble row per date on which every member forecast, before its own calibration.

    ``members``: calibrated predictions of several models (column ``model``), one horizon.
    """
    qs = check_quantiles(quantiles)
    columns = [quantile_column(q) for q in qs]
    names = sorted(members["model"].unique())
    if len(names) < 2:
        raise EnsembleError(f"an ensemble needs at least two members, got {names}")
    if members["horizon"].nunique() != 1:
        raise EnsembleError("combine one horizon at a time")
    counts = members.groupby("model")["trade_date"].nunique()
    dates = set.intersection(
        *(set(members.loc[members["model"] == m, "trade_date"]) for m in names)
    )
    if not dates:
        raise EnsembleError("the members share no forecast date")
    duplicated = members.duplicated(["model", "trade_date"])
    if duplicated.any():
        first = members[duplicated].iloc[0]
        when = pd.Timestamp(first["trade_date"]).date()
        raise EnsembleError(f"member {first['model']} has two forecasts for {when}")
    shared = members[members["trade_date"].isin(dates)].sort_values(["trade_date", "model"])
    by_model = {m: shared[shared["model"] == m].reset_index(drop=True) for m in names}
    base = by_model[names[0]]
    values = np.stack([by_model[m][columns].to_numpy(dtype=float) for m in names], axis=1)
    p_up = np.stack([by_model[m]["p_up"].to_numpy(dtype=float) for m in names], axis=1)
    y = base["y_true"].to_numpy(dtype=float)
    losses = np.stack([crps_rows(y, values[:, k, :], qs) for k in range(len(names))], axis=1)
    weights = member_weights(
        losses,
        pd.to_datetime(base["trade_date"]).to_numpy(),
        pd.to_datetime(base["target_date"]).to_numpy(),
        window,
        min_history,
    )
    out = base[[c for c in KEEP if c in base.columns]].copy()
    combined = np.einsum("nm,nmq->nq", weights, values)
    for k, column in enumerate(columns):
        out[column] = combined[:, k]
    out["p_up"] = np.einsum("nm,nm->n", weights, p_up)
    out["model"] = ENSEMBLE
    versions = sorted(shared.groupby("model")["model_version"].first().astype(str).items())
    digest = hashlib.sha256(json.dumps(versions).encode()).hexdigest()[:12]
    out["model_version"] = f"{ENSEMBLE}-{digest}"
    out["members"] = json.dumps(names)
    for k, name in enumerate(names):
        out[f"weight_{name}"] = weights[:, k]
    dropped = {m: int(counts[m]) - len(dates) for m in names if int(counts[m]) > len(dates)}
    out.attrs["dropped_dates"] = dropped
    return out
