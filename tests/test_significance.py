"""Diebold-Mariano with a Newey-West variance against hand-computed values; the verdict rule."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from zlflow.significance import (
    BEATS,
    LOSES,
    NO_DIFFERENCE,
    SignificanceError,
    block_bootstrap_indices,
    bootstrap_mean_ci,
    coverage_verdict,
    diebold_mariano,
    hac_lag,
    newey_west_variance,
    verdict,
)


def test_dm_with_newey_west_variance_by_hand() -> None:
    model = np.array([2.0, 0.0, 3.0, 1.0])
    baseline = np.ones(4)
    # d = [1, -1, 2, 0], mean 0.5, deviations e = [0.5, -1.5, 1.5, -0.5]
    # gamma0 = (0.25 + 2.25 + 2.25 + 0.25) / 4 = 1.25
    # gamma1 = (0.5 * -1.5 + -1.5 * 1.5 + 1.5 * -0.5) / 4 = -0.9375
    # lag 1, Bartlett weight 1 - 1/2: variance = 1.25 + 2 * 0.5 * -0.9375 = 0.3125
    assert newey_west_variance(model - baseline, 1) == pytest.approx(0.3125)
    assert newey_west_variance(model - baseline, 0) == pytest.approx(1.25)
    result = diebold_mariano(model, baseline, lag=1)
    statistic = 0.5 / math.sqrt(0.3125 / 4)
    assert result.statistic == pytest.approx(statistic)
    assert result.statistic == pytest.approx(1.788854, abs=1e-6)
    assert result.p_value == pytest.approx(2 * (1 - NormalDist().cdf(statistic)))
    assert result.mean_diff == 0.5 and result.n == 4 and result.lag == 1


def test_hac_lag_covers_the_overlap() -> None:
    # h - 1 = 20 plus floor(4 * 18.9 ** (2/9)) = 7
    assert hac_lag(21, 1890) == 27
    assert hac_lag(63, 1890) == 69
    assert hac_lag(1, 100) == 4
    assert hac_lag(63, 10) == 9  # never past the series
    with pytest.raises(SignificanceError):
        hac_lag(0, 100)


def test_overlapping_targets_widen_the_test() -> None:
    # Sums of 21 consecutive noise terms: an i.i.d. variance would be far too small.
    rng = np.random.default_rng(4)
    noise = rng.normal(size=3000)
    d = np.convolve(noise, np.ones(21), mode="valid")[:2000] / 21 + 0.05
    naive = diebold_mariano(d, np.zeros_like(d), lag=0)
    hac = diebold_mariano(d, np.zeros_like(d), lag=hac_lag(21, len(d)))
    assert hac.p_value > 5 * naive.p_value


def test_identical_losses_are_no_evidence() -> None:
    same = np.array([0.1, 0.2, 0.3])
    result = diebold_mariano(same, same, lag=1)
    assert result.p_value == 1.0 and result.mean_diff == 0.0
    assert verdict(result.mean_diff, result.p_value) == NO_DIFFERENCE
    with pytest.raises(SignificanceError, match="shape"):
        diebold_mariano(same, same[:2], lag=1)


def test_verdict_rule() -> None:
    assert verdict(-0.01, 0.01) == BEATS
    assert verdict(0.01, 0.01) == LOSES
    assert verdict(-0.01, 0.05) == NO_DIFFERENCE  # p must be below 0.05
    assert verdict(0.01, 0.2) == NO_DIFFERENCE
    assert verdict(0.02, 0.001, lower_is_better=False) == BEATS
    assert verdict(float("nan"), 0.001) == NO_DIFFERENCE
    assert coverage_verdict(0.76, 0.84, 0.8) == "holds"
    assert coverage_verdict(0.60, 0.75, 0.8) == "under-covers"
    assert coverage_verdict(0.82, 0.90, 0.8) == "over-covers"


def test_block_bootstrap_resamples_blocks_reproducibly() -> None:
    indices = block_bootstrap_indices(100, 10, 50, seed=3)
    assert indices.shape == (50, 100)
    again = block_bootstrap_indices(100, 10, 50, seed=3)
    np.testing.assert_array_equal(indices, again)
    steps = np.diff(indices, axis=1)
    # Within a block, indices run on by one (blocks wrap around the end).
    assert np.mean((steps == 1) | (steps == -99)) > 0.85
    x = np.arange(100.0)
    low, high = bootstrap_mean_ci(x, indices)
    assert low < 49.5 < high
