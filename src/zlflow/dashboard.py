"""A static HTML dashboard built from the API views: no server, no JavaScript libraries.

Charts are inline SVG drawn by matplotlib (PNG copies go to the Snakemake report); a few
lines of inline script only check that every chart has a size once the page is laid out.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from zlflow.warehouse.base import Warehouse

CHARTS = ("fan", "direction", "drivers", "metrics", "coverage", "reliability", "pit")
BASELINES = {"random_walk", "drift", "climatology", "garch"}
HEADLINE = "ensemble"
VERDICT_COLORS = {
    "beats": "tab:green",
    "loses": "tab:red",
    "no significant difference": "tab:gray",
}
# What a live forecast row shows, after its horizon (and model).
FORECAST_COLUMNS = (
    "as_of_date",
    "target_date",
    "close",
    "median_price",
    "lower_80_price",
    "upper_80_price",
    "lower_95_price",
    "upper_95_price",
    "p_up",
)
# (metric, baseline, column title) of the verdict table, in reading order.
VERDICT_COLUMNS = (
    ("crps", "random_walk", "CRPS vs random walk"),
    ("abs_error", "random_walk", "MAE vs random walk"),
    ("interval_score_80", "random_walk", "80% interval score vs random walk"),
    ("brier", "climatology", "Brier vs climatology"),
    ("brier", "random_walk", "Brier vs a coin"),
    ("directional_accuracy", "majority direction", "accuracy vs majority direction"),
)
# PIT bins of the published quantiles: (lower column, upper column, nominal share).
PIT_BINS = (
    (None, "lower_95_log_return", 0.025),
    ("lower_95_log_return", "lower_80_log_return", 0.075),
    ("lower_80_log_return", "median_log_return", 0.4),
    ("median_log_return", "upper_80_log_return", 0.4),
    ("upper_80_log_return", "upper_95_log_return", 0.075),
    ("upper_95_log_return", None, 0.025),
)


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
    # Every scored backtest forecast (folds 1 and later) with its outcome: the evidence.
    scored = _query(
        warehouse,
        "SELECT horizon, model, fold, p_up, realised_log_return, median_log_return, "
        "lower_80_log_return, upper_80_log_return, lower_95_log_return, upper_95_log_return, "
        "inside_80, inside_95 FROM ${api}.vw_zl_forecast_history "
        "WHERE kind = 'backtest' AND fold >= 1 AND realised_log_return IS NOT NULL",
    )
    return {
        "scored": scored,
        "verdicts": _query(
            warehouse,
            "SELECT * FROM ${api}.vw_zl_backtest_verdicts ORDER BY horizon, model, metric",
        ),
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
        models = set(history["model"])
        headline = HEADLINE if HEADLINE in models else sorted(models)[0]
        horizons = sorted(history["horizon"].unique())
        horizon = "1m" if "1m" in horizons else horizons[0]
        first = history[(history["model"] == headline) & (history["horizon"] == horizon)]
        shown = first.sort_values("target_date")
        ax.fill_between(
            shown["target_date"],
            shown["lower_95_price"],
            shown["upper_95_price"],
            color="tab:blue",
            alpha=0.2,
            label=f"{headline} {horizon} 95% band (backtest, at target dates)",
        )
        ax.plot(
            shown["target_date"],
            shown["median_price"],
            color="tab:blue",
            lw=0.8,
            label="backtest median",
        )
    shown_live = latest[latest["model"] == HEADLINE] if HEADLINE in set(latest["model"]) else latest
    for row in shown_live.itertuples():
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
    """Every verdict metric's difference from its baseline with a 95% interval, per horizon."""
    verdicts = data["verdicts"]
    panels = [c for c in VERDICT_COLUMNS if c[0] != "interval_score_80"]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4), squeeze=False)
    for ax, (metric, baseline, title) in zip(axes[0], panels, strict=True):
        rows = verdicts[(verdicts["metric"] == metric) & (verdicts["baseline"] == baseline)]
        rows = rows[~rows["model"].isin(BASELINES)]
        labels = [f"{r.model} {r.horizon}" for r in rows.itertuples()]
        # Relative to the baseline's value, so horizons of different scale share an axis.
        scale = 100.0 / rows["baseline_value"].abs().clip(lower=1e-12).to_numpy(dtype=float)
        diff = rows["difference"].to_numpy(dtype=float) * scale
        low = diff - rows["ci_low"].to_numpy(dtype=float) * scale
        high = rows["ci_high"].to_numpy(dtype=float) * scale - diff
        colors = [VERDICT_COLORS.get(v, "tab:gray") for v in rows["verdict"]]
        ax.barh(labels, diff, color=colors, xerr=[abs(low), abs(high)], ecolor="black")
        ax.axvline(0, color="black", lw=0.8)
        better = "right" if metric == "directional_accuracy" else "left"
        ax.set_title(f"{title}\n(% difference; {better} of 0 = better)", fontsize=8)
        ax.tick_params(axis="both", labelsize=7)
    fig.suptitle(
        "Backtest skill: each metric's difference from its baseline in % of the baseline, with "
        "its 95% block-bootstrap interval "
        "(green: beats, red: loses, grey: no significant difference at p < 0.05)",
        fontsize=9,
    )
    return fig


def _coverage(data: dict[str, pd.DataFrame]) -> plt.Figure:
    """80% and 95% coverage per fold, per horizon and published model, against nominal."""
    scored = data["scored"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, (column, nominal) in zip(axes, (("inside_80", 0.8), ("inside_95", 0.95)), strict=True):
        if not scored.empty:
            by_fold = scored.groupby(["horizon", "model", "fold"])[column].mean().reset_index()
            for (horizon, model), rows in by_fold.groupby(["horizon", "model"]):
                ax.plot(
                    rows["fold"], rows[column], marker="o", ms=3, lw=1, label=f"{model} {horizon}"
                )
        ax.axhline(nominal, color="black", ls="--", lw=1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("fold")
        ax.set_title(f"{nominal:.0%} interval coverage per fold (dashed: nominal)", fontsize=9)
    axes[0].legend(fontsize=6, ncol=2)
    return fig


def _reliability(data: dict[str, pd.DataFrame]) -> plt.Figure:
    """Observed share of rises against forecast p_up (deciles), per horizon and model."""
    scored = data["scored"]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="reliable")
    if not scored.empty:
        frame = scored.assign(
            bin=(scored["p_up"].clip(0, 0.9999) * 10).astype(int),
            up=(scored["realised_log_return"] > 0).astype(float),
        )
        for (horizon, model), rows in frame.groupby(["horizon", "model"]):
            table = rows.groupby("bin").agg(p=("p_up", "mean"), o=("up", "mean"))
            ax.plot(table["p"], table["o"], marker="o", ms=4, lw=1, label=f"{model} {horizon}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("forecast probability of a rise")
    ax.set_ylabel("observed share of rises")
    ax.set_title("Reliability (backtest)", fontsize=9)
    ax.legend(fontsize=6)
    return fig


def pit_shares(scored: pd.DataFrame) -> pd.DataFrame:
    """Observed share of outcomes in each band of the published quantiles vs nominal."""
    records = []
    for (horizon, model), rows in scored.groupby(["horizon", "model"]):
        y = rows["realised_log_return"]
        for k, (low, high, nominal) in enumerate(PIT_BINS):
            inside = pd.Series(True, index=rows.index)
            if low is not None:
                inside &= y > rows[low]
            if high is not None:
                inside &= y <= rows[high]
            records.append(
                {
                    "horizon": horizon,
                    "model": model,
                    "bin": k,
                    "nominal": nominal,
                    "observed": float(inside.mean()),
                }
            )
    return pd.DataFrame.from_records(records)


def _pit(data: dict[str, pd.DataFrame]) -> plt.Figure:
    shares = pit_shares(data["scored"]) if not data["scored"].empty else pd.DataFrame()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    labels = ["<2.5%", "2.5-10%", "10-50%", "50-90%", "90-97.5%", ">97.5%"]
    if not shares.empty:
        groups = list(shares.groupby(["horizon", "model"]))
        width = 0.8 / len(groups)
        for k, ((horizon, model), rows) in enumerate(groups):
            ratio = rows["observed"].to_numpy() / rows["nominal"].to_numpy()
            x = np.arange(len(rows)) + k * width - 0.4 + width / 2
            ax.bar(x, ratio, width=width, label=f"{model} {horizon}")
    ax.axhline(1, color="black", ls="--", lw=1)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("observed / nominal share")
    ax.set_title("PIT histogram (flat at 1 = calibrated; tall ends = bands too narrow)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return fig


def verdict_table_html(verdicts: pd.DataFrame) -> str:
    """One row per horizon and published model, one cell per metric: verdict and p-value."""
    if verdicts.empty:
        return "<p class='empty'>no backtest verdicts</p>"
    shown = verdicts[~verdicts["model"].isin(BASELINES)]
    order = sorted(
        shown[["horizon", "model"]].drop_duplicates().itertuples(index=False),
        key=lambda r: (r.horizon, r.model != HEADLINE, r.model),
    )
    head = "".join(f"<th>{html.escape(t)}</th>" for _, _, t in VERDICT_COLUMNS)
    rows = []
    for horizon, model in order:
        mine = shown[(shown["horizon"] == horizon) & (shown["model"] == model)]
        cells = []
        for metric, baseline, _ in VERDICT_COLUMNS:
            hit = mine[(mine["metric"] == metric) & (mine["baseline"] == baseline)]
            if hit.empty:
                cells.append("<td></td>")
                continue
            v = hit.iloc[0]
            css = str(v["verdict"]).replace(" ", "-")
            cells.append(
                f"<td class='v {css}'>{html.escape(str(v['verdict']))}"
                f"<br><small>p = {v['p_value']:.3f}</small></td>"
            )
        for level in (80, 95):
            hit = mine[mine["metric"] == f"coverage_{level}"]
            if hit.empty:
                cells.append("<td></td>")
                continue
            v = hit.iloc[0]
            css = "beats" if v["verdict"] == "holds" else "loses"
            cells.append(
                f"<td class='v {css}'>{v['value']:.1%} of {level}%"
                f"<br><small>95% CI {v['ci_low']:.0%}-{v['ci_high']:.0%}: "
                f"{html.escape(str(v['verdict']))}</small></td>"
            )
        rows.append(
            f"<tr><th>{html.escape(str(horizon))}</th><th>{html.escape(str(model))}</th>"
            + "".join(cells)
            + "</tr>"
        )
    return (
        "<div class='scroll'><table class='data verdicts'><tr><th>horizon</th><th>model</th>"
        f"{head}<th>80% coverage</th><th>95% coverage</th></tr>{''.join(rows)}</table></div>"
    )


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
        "coverage": _render(_coverage(data), charts.get("coverage")),
        "reliability": _render(_reliability(data), charts.get("reliability")),
        "pit": _render(_pit(data), charts.get("pit")),
    }
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("zlflow", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    ).get_template("dashboard.html")
    page = template.render(
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        charts=svgs,
        verdicts=verdict_table_html(data["verdicts"]),
        headline=_table(
            data["latest"][data["latest"]["model"] == HEADLINE],
            ["horizon", *FORECAST_COLUMNS, "direction_skilled"],
        ),
        latest=_table(
            data["latest"],
            ["horizon", "model", *FORECAST_COLUMNS, "direction_skill", "model_version"],
        ),
        summary=_table(
            data["summary"],
            [
                "horizon",
                "model",
                "n",
                "crps",
                "mae",
                "interval_score_80",
                "coverage_80",
                "coverage_80_low",
                "coverage_80_high",
                "coverage_95",
                "brier",
                "brier_reliability",
                "brier_resolution",
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
