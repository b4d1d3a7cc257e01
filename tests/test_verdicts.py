"""Verdict tables: per metric, against the right baseline, with honest significance."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from zlflow.verdicts import pit_table, reliability_table, summary_lines, verdict_table

QUANTILES = (0.05, 0.1, 0.5, 0.9, 0.95)
COLUMNS = ["q5", "q10", "q50", "q90", "q95"]


def scored(n: int = 1500, h: int = 5, seed: int = 0) -> pd.DataFrame:
    """'sharp' knows part of each outcome; 'same' is the random walk under another name."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2012-01-02", periods=n)
    signal = rng.normal(0, 0.02, n)
    y = signal + rng.normal(0, 0.02, n)
    normal = NormalDist()
    specs = {
        "random_walk": (np.zeros(n), 0.028, np.full(n, 0.5)),
        "climatology": (np.full(n, 0.001), 0.028, np.full(n, 0.52)),
        "same": (np.zeros(n), 0.028, np.full(n, 0.5)),
        "sharp": (signal, 0.02, np.array([normal.cdf(s / 0.02) for s in signal])),
    }
    parts = []
    for model, (centre, spread, p_up) in specs.items():
        part = pd.DataFrame(
            {"trade_date": dates, "model": model, "horizon": "1w", "y_true": y, "p_up": p_up}
        )
        for q, column in zip(QUANTILES, COLUMNS, strict=True):
            part[column] = centre + normal.inv_cdf(q) * spread
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def row(table: pd.DataFrame, model: str, metric: str, baseline: str) -> pd.Series:
    rows = table[
        (table["model"] == model) & (table["metric"] == metric) & (table["baseline"] == baseline)
    ]
    assert len(rows) == 1, (model, metric, baseline)
    return rows.iloc[0]


def test_a_skilled_model_beats_and_a_copy_shows_no_difference() -> None:
    table = verdict_table(scored(), QUANTILES, horizon_days=5, seed=1)
    for metric in ("crps", "abs_error", "interval_score_80", "brier"):
        sharp = row(table, "sharp", metric, "random_walk")
        assert sharp["verdict"] == "beats" and sharp["p_value"] < 0.05
        assert sharp["ci_high"] < 0 and sharp["difference"] < 0
        same = row(table, "same", metric, "random_walk")
        assert same["verdict"] == "no significant difference"
    accuracy = row(table, "sharp", "directional_accuracy", "majority direction")
    assert accuracy["verdict"] == "beats" and accuracy["value"] > accuracy["baseline_value"]
    # The random walk's p = 0.5 is no call: exactly 50%.
    assert row(table, "same", "directional_accuracy", "climatology")["value"] == 0.5
    # The random walk against itself is never listed; against climatology it is.
    assert table[(table["model"] == "random_walk") & (table["baseline"] == "random_walk")].empty
    assert len(table[(table["model"] == "random_walk") & (table["baseline"] == "climatology")])
    assert (table["hac_lag"] >= 4).all()


def test_a_worse_model_loses_and_coverage_is_judged_against_nominal() -> None:
    frame = scored()
    worse = frame[frame["model"] == "random_walk"].assign(model="wide")
    worse[COLUMNS] = worse[COLUMNS] * 3.0  # bands three times too wide
    table = verdict_table(pd.concat([frame, worse]), QUANTILES, horizon_days=5)
    assert row(table, "wide", "crps", "random_walk")["verdict"] == "loses"
    assert row(table, "wide", "coverage_80", "nominal")["verdict"] == "over-covers"
    rw = row(table, "random_walk", "coverage_80", "nominal")
    assert rw["ci_low"] <= rw["value"] <= rw["ci_high"]
    narrow = frame[frame["model"] == "random_walk"].assign(model="narrow")
    narrow[COLUMNS] = narrow[COLUMNS] * 0.3
    table = verdict_table(pd.concat([frame, narrow]), QUANTILES, horizon_days=5)
    assert row(table, "narrow", "coverage_80", "nominal")["verdict"] == "under-covers"


def test_summary_gives_every_verdict_its_p_value() -> None:
    table = verdict_table(scored(), QUANTILES, horizon_days=5)
    lines = summary_lines(table, "1w", 5, ["sharp", "same"])
    assert lines[0] == "sharp at 1w (5 sessions):"
    judged = [line for line in lines if " vs " in line]
    assert judged and all("p = " in line for line in judged)
    assert any("CRPS: beats vs random walk" in line for line in lines)
    assert any("no significant difference vs random walk" in line for line in lines)
    assert any("nominal (95% CI" in line for line in lines)


def test_reliability_and_pit_tables() -> None:
    frame = scored()
    reliability = reliability_table(frame)
    sharp = reliability[reliability["model"] == "sharp"]
    assert sharp["n"].sum() == 1500
    assert np.corrcoef(sharp["mean_p_up"], sharp["observed"])[0, 1] > 0.9
    pit = pit_table(frame, QUANTILES)
    rw = pit[pit["model"] == "random_walk"]
    assert len(rw) == 6 and rw["observed"].sum() == 1.0
    np.testing.assert_allclose(rw["nominal"], [0.05, 0.05, 0.4, 0.4, 0.05, 0.05])
