"""Report plots: folds, skill with its uncertainty, coverage, reliability, PIT, fan, drivers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from zlflow.models.base import quantile_column

BASELINES = ("random_walk", "drift", "climatology", "garch")
VERDICT_COLORS = {
    "beats": "tab:green",
    "loses": "tab:red",
    "no significant difference": "tab:gray",
}


def _save(fig: plt.Figure, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_folds(frame: pd.DataFrame, folds: pd.DataFrame, path: str | Path) -> None:
    """Each fold's training and test window under the ZL price."""
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [1, 2]}
    )
    top.plot(frame["trade_date"], frame["close"], color="black", lw=0.8)
    top.set_ylabel("ZL close (c/lb)")
    for row in folds.itertuples():
        bottom.barh(
            row.fold,
            row.train_end - row.train_start,
            left=row.train_start,
            color="tab:blue",
            alpha=0.5,
        )
        bottom.barh(
            row.fold, row.test_end - row.test_start, left=row.test_start, color="tab:orange"
        )
    bottom.set_ylabel("fold")
    bottom.invert_yaxis()
    bottom.set_title("train (blue) and test (orange) windows; the gap is the purge")
    _save(fig, path)


def plot_skill(verdicts: pd.DataFrame, path: str | Path) -> None:
    """Every metric's difference from its baseline with a 95% block-bootstrap interval.

    One panel per metric, so no chart shows only the metric a model wins; bars are green
    where the model significantly beats the baseline, red where it loses, grey otherwise.
    """
    shown = verdicts[
        ((verdicts["baseline"] == "random_walk") & (verdicts["metric"] != "directional_accuracy"))
        | (
            (verdicts["baseline"] == "majority direction")
            & (verdicts["metric"] == "directional_accuracy")
        )
        | ((verdicts["baseline"] == "climatology") & (verdicts["metric"] == "brier"))
    ]
    panels = list(dict.fromkeys(zip(shown["metric"], shown["baseline"], strict=True)))
    fig, axes = plt.subplots(
        1, max(len(panels), 1), figsize=(3.2 * max(len(panels), 1), 3.8), squeeze=False
    )
    for ax, (metric, baseline) in zip(axes[0], panels, strict=False):
        rows = shown[(shown["metric"] == metric) & (shown["baseline"] == baseline)]
        x = np.arange(len(rows))
        diff = rows["difference"].to_numpy()
        err = np.vstack([diff - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - diff])
        colors = [VERDICT_COLORS.get(v, "tab:gray") for v in rows["verdict"]]
        ax.bar(x, diff, color=colors)
        ax.errorbar(x, diff, yerr=np.abs(err), fmt="none", ecolor="black", lw=0.8, capsize=2)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(x, rows["model"], rotation=45, fontsize=8)
        better = "above" if metric == "directional_accuracy" else "below"
        ax.set_title(
            f"{rows['label'].iloc[0]}\nvs {baseline.replace('_', ' ')} ({better} 0 = better)",
            fontsize=8,
        )
    fig.suptitle(
        "Difference from the baseline with 95% block-bootstrap CI "
        "(green: beats, red: loses, grey: no significant difference, DM p < 0.05)",
        fontsize=9,
    )
    _save(fig, path)


def plot_reliability(reliability: pd.DataFrame, path: str | Path) -> None:
    """Observed share of rises against the forecast p_up, per model (diagonal = calibrated)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="perfectly reliable")
    for model, rows in reliability.groupby("model"):
        sizes = 10 + 140 * rows["n"] / max(reliability["n"].max(), 1)
        ax.plot(rows["mean_p_up"], rows["observed"], lw=1, alpha=0.7)
        ax.scatter(rows["mean_p_up"], rows["observed"], s=sizes, alpha=0.7, label=model)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("forecast probability of a rise (bin mean)")
    ax.set_ylabel("observed share of rises")
    ax.set_title("Reliability diagram (marker size: forecasts in the bin)", fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_pit(pit: pd.DataFrame, path: str | Path) -> None:
    """Share of outcomes between consecutive quantiles over its nominal mass (1 = calibrated)."""
    models = list(dict.fromkeys(pit["model"]))
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        rows = pit[pit["model"] == model].reset_index(drop=True)
        ax.bar(np.arange(len(rows)) + k * width, rows["ratio"], width=width, label=model)
    rows = pit[pit["model"] == models[0]].reset_index(drop=True) if models else pit
    labels = [f"{lo:g}-{hi:g}" for lo, hi in zip(rows["bin_low"], rows["bin_high"], strict=True)]
    ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, labels, fontsize=7, rotation=30)
    ax.axhline(1, color="black", ls="--", lw=1)
    ax.set_xlabel("between quantiles")
    ax.set_ylabel("observed / nominal share")
    ax.set_title(
        "PIT histogram: flat at 1 is calibrated; high outer bars = bands too narrow", fontsize=9
    )
    ax.legend(fontsize=7, ncol=3)
    _save(fig, path)


def plot_coverage(by_fold: pd.DataFrame, levels: Sequence[int], path: str | Path) -> None:
    """Interval coverage per fold against its nominal level."""
    fig, axes = plt.subplots(1, len(levels), figsize=(5 * len(levels), 3.5), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        for model, rows in by_fold.groupby("model"):
            ax.plot(rows["fold"], rows[f"coverage_{level}"], marker="o", ms=3, label=model)
        ax.axhline(level / 100, color="black", ls="--", lw=1)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{level}% interval coverage per fold (dashed: nominal)", fontsize=9)
        ax.set_xlabel("fold")
    axes[0][0].legend(fontsize=7)
    _save(fig, path)


def plot_fan(
    frame: pd.DataFrame,
    oos: pd.DataFrame,
    forecast: pd.DataFrame,
    quantiles: Sequence[float],
    path: str | Path,
    history_sessions: int = 500,
) -> None:
    """Price with out-of-sample forecast bands (at their target dates) and the live fan."""
    recent = frame.iloc[-history_sessions:]
    start = recent["trade_date"].iloc[0]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(recent["trade_date"], recent["close"], color="black", lw=1, label="ZL close")
    lo95, lo80, mid, hi80, hi95 = (quantile_column(q) for q in _fan_levels(quantiles))
    # One model's bands: the ensemble (the headline forecast) when there is one.
    headline = "ensemble" if "ensemble" in set(oos["model"]) else sorted(oos["model"])[0]
    shown = oos[(oos["model"] == headline) & (oos["target_date"] >= start)]
    shown = shown.sort_values("target_date")
    if not shown.empty:
        base = shown["close"].to_numpy()
        when = shown["target_date"]
        ax.fill_between(
            when,
            base * np.exp(shown[lo95]),
            base * np.exp(shown[hi95]),
            color="tab:blue",
            alpha=0.15,
            label=f"{headline} out-of-sample 95% band",
        )
        ax.fill_between(
            when,
            base * np.exp(shown[lo80]),
            base * np.exp(shown[hi80]),
            color="tab:blue",
            alpha=0.3,
            label=f"{headline} out-of-sample 80% band",
        )
        ax.plot(when, base * np.exp(shown[mid]), color="tab:blue", lw=0.8, label="OOS median")
    for row in forecast.itertuples():
        when = [row.as_of_date, row.target_date]
        close = row.close
        for low, high, alpha in ((lo95, hi95, 0.2), (lo80, hi80, 0.35)):
            ax.fill_between(
                when,
                [close, close * np.exp(getattr(row, low))],
                [close, close * np.exp(getattr(row, high))],
                color="tab:red",
                alpha=alpha,
            )
        ax.plot(
            when,
            [close, close * np.exp(getattr(row, mid))],
            color="tab:red",
            lw=1.5,
            label=f"live {row.model} (p_up {row.p_up:.2f})",
        )
    ax.set_ylabel("cents/lb")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("Forecast fan: out-of-sample bands and the live forecast")
    _save(fig, path)


def _fan_levels(quantiles: Sequence[float]) -> tuple[float, float, float, float, float]:
    qs = sorted(quantiles)
    inner = [q for q in qs if 0.5 > q > qs[0]] or [qs[0]]
    outer_hi = [q for q in qs if 0.5 < q < qs[-1]] or [qs[-1]]
    return qs[0], inner[0], 0.5, outer_hi[-1], qs[-1]


def plot_drivers_by_model(long: pd.DataFrame, n: int, path: str | Path) -> None:
    """Top drivers of each model's median side by side (TreeSHAP for LightGBM, integrated
    gradients for the TFT: both sum to the model's median forecast)."""
    from zlflow.explain import top_drivers

    models = sorted(long["model"].unique()) or ["(none)"]
    fig, axes = plt.subplots(
        1, len(models), figsize=(7 * len(models), 0.3 * n + 1.5), squeeze=False
    )
    for ax, model in zip(axes[0], models, strict=True):
        top = top_drivers(long[long["model"] == model], n).sort_values("mean_abs")
        ax.barh(top["feature"], top["mean_abs"], color="tab:purple")
        ax.set_xlabel("mean |contribution| on out-of-sample rows (log-return units)")
        ax.set_title(f"{model}: top drivers of the median forecast (all folds)", fontsize=9)
    _save(fig, path)


def plot_interpretation(weights: pd.DataFrame, path: str | Path, n: int = 15) -> None:
    """The TFT's own view: mean encoder variable-selection weights and mean attention on
    each encoder position, over every fold's test rows."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 0.3 * n + 1.5))
    if weights.empty:
        for ax in (left, right):
            ax.axis("off")
        left.text(
            0.0,
            0.5,
            "No model in this run exposes variable-selection weights or attention\n"
            "(only the TFT does: add it with --configfile config/experiments/tft.yaml).",
            fontsize=10,
        )
        _save(fig, path)
        return
    mean = weights.groupby(["model", "feature"])["value"].mean().reset_index()
    encoder = mean[mean["feature"].str.startswith("encoder:")]
    for model, rows in encoder.groupby("model"):
        top = rows.nlargest(n, "value").sort_values("value")
        left.barh(top["feature"].str.removeprefix("encoder:"), top["value"], label=model)
    left.set_xlabel("mean encoder variable-selection weight (weights sum to 1)")
    left.set_title("What the TFT selects", fontsize=9)
    attention = mean[mean["feature"].str.startswith("attention:")].copy()
    attention["lag"] = attention["feature"].str.removeprefix("attention:t-").astype(int)
    for model, rows in attention.groupby("model"):
        rows = rows.sort_values("lag")
        right.plot(rows["lag"], rows["value"], marker="o", ms=3, label=model)
    right.set_xlabel("sessions before the forecast origin")
    right.set_ylabel("mean attention (averaged over heads and decoder steps)")
    right.set_title("Where the TFT looks back", fontsize=9)
    right.invert_xaxis()
    right.legend(fontsize=7)
    _save(fig, path)
