"""Report plots: folds, skill against baselines, interval coverage, fan chart, drivers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from zlflow.models.base import quantile_column

BASELINES = ("random_walk", "drift", "climatology")


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


def plot_skill(metrics: pd.DataFrame, path: str | Path) -> None:
    """Overall metrics of each model next to the naive baselines."""
    panels = [
        ("pinball_mean", "mean pinball loss (lower is better)"),
        ("mae", "MAE of the median (lower is better)"),
        ("brier", "Brier score (lower is better)"),
        ("directional_accuracy", "directional accuracy (higher is better)"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 3.5))
    colors = ["tab:gray" if m in BASELINES else "tab:green" for m in metrics["model"]]
    for ax, (column, title) in zip(axes, panels, strict=True):
        ax.bar(metrics["model"], metrics[column], color=colors)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
        low, high = metrics[column].min(), metrics[column].max()
        pad = (high - low) * 0.5 or abs(high) * 0.05 or 0.01
        ax.set_ylim(low - pad, high + pad)
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
    shown = oos[oos["target_date"] >= start].sort_values("target_date")
    if not shown.empty:
        base = shown["close"].to_numpy()
        when = shown["target_date"]
        ax.fill_between(
            when,
            base * np.exp(shown[lo95]),
            base * np.exp(shown[hi95]),
            color="tab:blue",
            alpha=0.15,
            label="OOS 95% band",
        )
        ax.fill_between(
            when,
            base * np.exp(shown[lo80]),
            base * np.exp(shown[hi80]),
            color="tab:blue",
            alpha=0.3,
            label="OOS 80% band",
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


def plot_drivers(top: pd.DataFrame, path: str | Path, title: str) -> None:
    """Mean absolute SHAP value of the top features."""
    top = top.sort_values("mean_abs")
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(top) + 1.2))
    ax.barh(top["feature"], top["mean_abs"], color="tab:purple")
    ax.set_xlabel("mean |SHAP| on out-of-sample rows (log-return units)")
    ax.set_title(title, fontsize=9)
    _save(fig, path)


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
