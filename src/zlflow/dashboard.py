"""A static HTML dashboard built from the API views: no server, no JavaScript libraries.

Charts are inline SVG drawn by matplotlib (PNG copies go to the Snakemake report); a few
lines of inline script only check that every chart has a size once the page is laid out.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from zlflow.warehouse.base import Warehouse

CHARTS = ("fan", "direction", "drivers", "metrics")
BASELINES = {"random_walk", "drift", "climatology"}


def _query(warehouse: Warehouse, sql: str) -> pd.DataFrame:
    return warehouse.query_arrow(sql).to_pandas()


def dashboard_data(
    warehouse: Warehouse, history_sessions: int, top: int
) -> dict[str, pd.DataFrame]:
    """Everything the page shows, read through the API views."""
    prices = warehouse.query_arrow(
        "SELECT trade_date, close FROM ${staging}.futures_daily WHERE symbol = 'ZL' "
        "ORDER BY trade_date DESC LIMIT @n",
        {"n": history_sessions},
    ).to_pandas()
    start = prices["trade_date"].min()
    history = warehouse.query_arrow(
        "SELECT * FROM ${api}.vw_zl_forecast_history "
        "WHERE kind = 'backtest' AND target_date >= @start",
        {"start": start},
    ).to_pandas()
    drivers = warehouse.query_arrow(
        "SELECT * FROM ${api}.vw_zl_top_drivers WHERE rank <= @top ORDER BY horizon, model, rank",
        {"top": top},
    ).to_pandas()
    return {
        "prices": prices.sort_values("trade_date"),
        "latest": _query(
            warehouse, "SELECT * FROM ${api}.vw_zl_latest_forecast ORDER BY horizon, model"
        ),
        "history": history,
        "drivers": drivers,
        "summary": _query(
            warehouse,
            "SELECT * FROM ${api}.vw_zl_backtest_summary ORDER BY horizon, is_baseline, model",
        ),
        "alerts": _query(
            warehouse, "SELECT * FROM ${api}.vw_zl_alerts ORDER BY severity, alert_type, alert_date"
        ),
    }


def _fan(data: dict[str, pd.DataFrame]) -> plt.Figure:
    prices, latest, history = data["prices"], data["latest"], data["history"]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(prices["trade_date"], prices["close"], color="black", lw=1, label="ZL close")
    if not history.empty:
        first = history[history["model"] == sorted(history["model"].unique())[0]]
        shown = first.sort_values("target_date")
        ax.fill_between(
            shown["target_date"],
            shown["lower_95_price"],
            shown["upper_95_price"],
            color="tab:blue",
            alpha=0.2,
            label=f"{shown['model'].iloc[0]} 95% band (backtest)",
        )
        ax.plot(
            shown["target_date"],
            shown["median_price"],
            color="tab:blue",
            lw=0.8,
            label="backtest median",
        )
    for row in latest.itertuples():
        when = [row.as_of_date, row.target_date]
        ax.fill_between(
            when,
            [row.close, row.lower_95_price],
            [row.close, row.upper_95_price],
            color="tab:red",
            alpha=0.2,
        )
        ax.fill_between(
            when,
            [row.close, row.lower_80_price],
            [row.close, row.upper_80_price],
            color="tab:red",
            alpha=0.35,
        )
        ax.plot(
            when,
            [row.close, row.median_price],
            color="tab:red",
            lw=1.5,
            label=f"live {row.model} {row.horizon}",
        )
    ax.set_ylabel("cents/lb")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("ZL price, backtest bands and the live forecast fan")
    return fig


def _direction(data: dict[str, pd.DataFrame], low: float, high: float) -> plt.Figure:
    latest = data["latest"]
    labels = [f"{r.model} {r.horizon}" for r in latest.itertuples()]
    fig, ax = plt.subplots(figsize=(6, 0.6 * max(len(labels), 1) + 1.4))
    colors = ["tab:green" if p >= 0.5 else "tab:red" for p in latest["p_up"]]
    ax.barh(labels, latest["p_up"], color=colors)
    for x, style in ((0.5, "-"), (low, "--"), (high, "--")):
        ax.axvline(x, color="black", lw=0.8, ls=style)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of a rise (dashed: alert thresholds)")
    ax.set_title("Direction probability")
    return fig


def _drivers(data: dict[str, pd.DataFrame]) -> plt.Figure:
    drivers = data["drivers"]
    fig, ax = plt.subplots(figsize=(6, 0.3 * max(len(drivers), 1) + 1.4))
    if not drivers.empty:
        first = drivers[
            (drivers["model"] == drivers["model"].iloc[0])
            & (drivers["horizon"] == drivers["horizon"].iloc[0])
        ].iloc[::-1]
        colors = ["tab:green" if v > 0 else "tab:red" for v in first["contribution"]]
        ax.barh(first["feature"], first["contribution"], color=colors)
        ax.set_title(
            f"Top drivers of the latest {first['model'].iloc[0]} "
            f"{first['horizon'].iloc[0]} median (log return)"
        )
    ax.axvline(0, color="black", lw=0.8)
    return fig


def _metrics(data: dict[str, pd.DataFrame]) -> plt.Figure:
    summary = data["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    labels = [f"{r.model} {r.horizon}" for r in summary.itertuples()]
    colors = ["tab:gray" if m in BASELINES else "tab:green" for m in summary["model"]]
    axes[0].bar(labels, summary["pinball_skill_vs_random_walk"], color=colors)
    axes[0].axhline(0, color="black", lw=0.8)
    axes[0].set_title("pinball skill vs random walk (above 0 = better)", fontsize=9)
    axes[1].bar(labels, summary["directional_accuracy"], color=colors)
    axes[1].axhline(0.5, color="black", lw=0.8, ls="--")
    axes[1].set_title("directional accuracy (out of sample)", fontsize=9)
    for ax in axes:
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    return fig


def _render(fig: plt.Figure, png: str | Path | None) -> str:
    fig.tight_layout()
    if png is not None:
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=100)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    if frame.empty:
        return "<p class='empty'>none</p>"
    shown = frame[[c for c in columns if c in frame.columns]]
    table = shown.to_html(
        index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="data", na_rep=""
    )
    return f"<div class='scroll'>{table}</div>"


def build_dashboard(
    warehouse: Warehouse,
    settings: Mapping[str, Any],
    html: str | Path,
    charts: Mapping[str, str] | None = None,
) -> None:
    """Write the dashboard page (and PNG copies of its charts when paths are given)."""
    data = dashboard_data(warehouse, settings["history_sessions"], settings["top_drivers"])
    charts = charts or {}
    svgs = {
        "fan": _render(_fan(data), charts.get("fan")),
        "direction": _render(
            _direction(data, settings["p_up_low"], settings["p_up_high"]), charts.get("direction")
        ),
        "drivers": _render(_drivers(data), charts.get("drivers")),
        "metrics": _render(_metrics(data), charts.get("metrics")),
    }
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("zlflow", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    ).get_template("dashboard.html")
    page = template.render(
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        charts=svgs,
        latest=_table(
            data["latest"],
            [
                "horizon",
                "model",
                "as_of_date",
                "target_date",
                "close",
                "median_price",
                "lower_80_price",
                "upper_80_price",
                "lower_95_price",
                "upper_95_price",
                "p_up",
                "model_version",
            ],
        ),
        summary=_table(
            data["summary"],
            [
                "horizon",
                "model",
                "n",
                "pinball_mean",
                "pinball_skill_vs_random_walk",
                "mae",
                "coverage_80",
                "coverage_95",
                "brier",
                "directional_accuracy",
            ],
        ),
        alerts=_table(
            data["alerts"], ["severity", "alert_type", "alert_date", "horizon", "model", "message"]
        ),
        alert_count=len(data["alerts"]),
    )
    Path(html).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{html}.tmp")
    tmp.write_text(page)
    tmp.replace(html)
