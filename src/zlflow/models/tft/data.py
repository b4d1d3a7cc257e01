"""Tensors for the TFT, built once per fold; samples are views, never copies of the frame.

Rows are taken in the order given, which must be date order with one row per session.
A sample is identified by its *origin* ``t``: the row whose features are the last ones
the forecast may use. Its encoder covers rows ``t - L + 1 .. t`` and its decoder the
``h`` sessions after ``t``. ``Windows`` exposes the encoder inputs of every origin as a
strided view (``Tensor.unfold``), so a batch copies only its own ``batch x L`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

CALENDAR = ("day_of_week", "month")
CALENDAR_CATEGORIES = (7, 12)
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and scale from the training rows; missing values become indicators.

    Statistics ignore missing values. A constant or all-missing column gets scale 1 so it
    cannot blow up; standardised values are clipped to ``clip`` so one outlier in a later
    fold (a regime the training rows never saw) cannot saturate the network.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardizer:
        finite = np.isfinite(values)
        count = np.maximum(finite.sum(axis=0), 1)
        mean = np.where(finite, values, 0.0).sum(axis=0) / count
        variance = (np.where(finite, values - mean, 0.0) ** 2).sum(axis=0) / count
        scale = np.sqrt(variance)
        scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
        return cls(mean=mean.astype(np.float64), scale=scale.astype(np.float64))

    def transform(self, values: np.ndarray, clip: float) -> np.ndarray:
        """``(rows, features, 2)`` float32: standardised value (0 if missing), indicator."""
        missing = ~np.isfinite(values)
        z = np.clip((np.where(missing, self.mean, values) - self.mean) / self.scale, -clip, clip)
        return np.stack([z, missing.astype(np.float64)], axis=-1).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Standardizer:
        return cls(mean=np.asarray(data["mean"], float), scale=np.asarray(data["scale"], float))


def _codes(days: np.ndarray) -> np.ndarray:
    """Day of week (Monday 0) and month (January 0) of ``datetime64[D]`` values, last axis."""
    weekday = (days.astype(np.int64) + _EPOCH_WEEKDAY) % 7
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    return np.stack([weekday, month], axis=-1)


def _days(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.tz_localize(None).to_numpy().astype("datetime64[D]")


def calendar_codes(dates: pd.DatetimeIndex) -> np.ndarray:
    """``(rows, 2)`` int64 calendar codes of the rows' own dates (encoder steps)."""
    return _codes(_days(dates))


def future_calendar_codes(dates: pd.DatetimeIndex, horizon: int) -> np.ndarray:
    """``(rows, horizon, 2)`` codes of the ``horizon`` business days after each date.

    The decoder's dates are approximated as Monday-Friday business days: exchange
    holidays are ignored, so a step after a holiday is labelled one day early. Training
    and prediction use the same approximation, so the model never sees the difference.
    """
    steps = np.arange(1, horizon + 1)
    future = np.busday_offset(_days(dates)[:, None], steps[None, :], roll="forward")
    return _codes(future)


def step_targets(
    final: np.ndarray, returns: np.ndarray | None, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative return from each row to ``k`` rows later, ``k = 1..horizon``, and a mask.

    Step ``horizon`` is ``final`` (the workflow's target). Steps ``k < horizon`` add up
    ``returns`` (daily log returns) of rows ``t + 1 .. t + k``; a step whose rows lie past
    the last row given, or include a missing return, is masked (and set to 0), so nothing
    beyond the rows passed in is used. Without ``returns`` only the last step is trained.
    """
    rows = len(final)
    targets = np.zeros((rows, horizon), dtype=np.float32)
    mask = np.zeros((rows, horizon), dtype=bool)
    targets[:, -1] = final
    mask[:, -1] = True
    if returns is None:
        return targets, mask
    finite = np.isfinite(returns)
    level = np.concatenate([[0.0], np.cumsum(np.where(finite, returns, 0.0))])
    gaps = np.concatenate([[0], np.cumsum(~finite)])
    for k in range(1, horizon):
        t = np.arange(max(rows - k, 0))
        ok = gaps[t + k + 1] == gaps[t + 1]
        targets[t[ok], k - 1] = level[t[ok] + k + 1] - level[t[ok] + 1]
        mask[t[ok], k - 1] = True
    return targets, mask


def epoch_order(count: int, run: int, generator: torch.Generator) -> Tensor:
    """A random order of positions ``0..count-1`` in runs of ``run`` consecutive ones.

    With ``run`` 1 this is ``randperm``. Longer runs put neighbouring origins in the same
    batch: their encoder windows share all but a few rows, so the row-wise work of a batch
    (most of a training step) shrinks; at batch 64 and encoder 63, runs of 4 cover ~920
    distinct rows instead of ~2,290. The runs start at a random offset each epoch, so
    which origins travel together changes from epoch to epoch.
    """
    if run == 1:
        return torch.randperm(count, generator=generator)
    shift = int(torch.randint(run, (1,), generator=generator))
    block = (torch.arange(count) + shift) // run
    rank = torch.empty(int(block[-1]) + 1 if count else 0, dtype=torch.int64)
    rank[torch.randperm(len(rank), generator=generator)] = torch.arange(len(rank))
    return torch.argsort(rank[block], stable=True)


def split_origins(
    rows: int, encoder_length: int, horizon: int, validation_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation origins; validation is the last slice, after a purge.

    The ``horizon`` origins just before the validation slice are dropped, so no
    training target (which spans ``t + 1 .. t + h``) overlaps a validation row. If the
    rows are too few for a validation slice no larger than the training part, every
    origin trains and there is no early stopping.
    """
    first = encoder_length - 1
    count = rows - first
    validation = int(count * validation_fraction)
    train_end = rows - validation - horizon
    if validation < 1 or train_end - first < validation:
        return np.arange(first, rows), np.arange(0)
    return np.arange(first, train_end), np.arange(rows - validation, rows)


@dataclass(frozen=True)
class Windows:
    """Encoder windows of every origin as views of the row tensors."""

    rows: Tensor  # (rows, features, 2)
    observed: Tensor  # (rows - L + 1, L, features, 2), a view of ``rows``
    calendar: Tensor | None  # (rows - L + 1, L, 2) view, or None without dates
    future: Tensor | None  # (rows, horizon, 2) decoder calendar per origin
    encoder_length: int

    @classmethod
    def build(
        cls,
        rows: np.ndarray,
        encoder_length: int,
        calendar: np.ndarray | None = None,
        future: np.ndarray | None = None,
    ) -> Windows:
        if len(rows) < encoder_length:
            raise ValueError(f"{len(rows)} rows cannot fill an encoder of {encoder_length}")
        tensor = torch.from_numpy(np.ascontiguousarray(rows))
        observed = tensor.unfold(0, encoder_length, 1).permute(0, 3, 1, 2)
        cal = None
        fut = None
        if calendar is not None and future is not None:
            cal = torch.from_numpy(calendar).unfold(0, encoder_length, 1).permute(0, 2, 1)
            fut = torch.from_numpy(future)
        return cls(tensor, observed, cal, fut, encoder_length)

    def known(self, origins: Tensor) -> Tensor | None:
        """Calendar codes ``(b, L + h, 2)`` of the encoder rows and decoder days, or None."""
        if self.calendar is None or self.future is None:
            return None
        index = origins - (self.encoder_length - 1)
        return torch.cat([self.calendar[index], self.future[origins]], dim=1)

    def batch(self, origins: Tensor) -> tuple[Tensor, Tensor | None]:
        """Observed encoder inputs ``(b, L, F, 2)`` (a copy of b windows) and known codes."""
        return self.observed[origins - (self.encoder_length - 1)], self.known(origins)

    def shared(self, origins: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """The distinct rows the origins' windows cover, their ``(b, L)`` index, known codes.

        Consecutive origins overlap in all but one row, so this is what the network
        needs when it runs row-wise work once per row (``index`` argument).
        """
        steps = torch.arange(1 - self.encoder_length, 1)
        rows, index = torch.unique(origins[:, None] + steps, return_inverse=True)
        return self.rows[rows], index, self.known(origins)
