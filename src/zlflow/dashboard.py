"""The published site: one JSON file per API view, the charts, and a page that reads them.

``site/`` holds ``index.html``, ``api/<view>.json`` (every API view, rows in a fixed
order, dates ISO, NaN as null), ``meta.json`` (what the page needs beyond the views) and
``charts/*.svg`` drawn by matplotlib. Any static host serves the folder as it is: the
page fetches the JSON and the charts, with no build step and no CDN. ``dashboard.html``
is the same page with that data and the charts inlined, for opening from disk, where a
browser blocks fetch() of local files. A rerun on the same warehouse writes identical
bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from zlflow.errors import ZlflowError
from zlflow.warehouse.base import Warehouse

CHARTS = ("fan", "direction", "drivers", "metrics", "coverage", "reliability", "pit")
# The views the page itself reads (every API view is published as JSON all the same).
PAGE_VIEWS = (
    "vw_zl_alerts",
    "vw_zl_backtest_summary",
    "vw_zl_backtest_verdicts",
    "vw_zl_latest_forecast",
    "vw_zl_live_track_record",
    "vw_zl_top_drivers",
)
REQUIRED_VIEWS = (*PAGE_VIEWS, "vw_zl_forecast_history")
BASELINES = {"random_walk", "drift", "climatology", "garch"}
HEADLINE = "ensemble"
VERDICT_COLORS = {
    "beats": "tab:green",
    "loses": "tab:red",
    "no significant difference": "tab:gray",
}
# (metric, baseline, title) of the skill chart's panels, in reading order.
SKILL_PANELS = (
    ("crps", "random_walk", "CRPS vs random walk"),
    ("abs_error", "random_walk", "MAE vs random walk"),
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
# Readable names of the features of features.zl_daily_v1 (docs/features.md defines them).
FEATURE_LABELS = {
    "ret_1d": "ZL return, 1 day",
    "ret_5d": "ZL return, 5 days",
    "ret_21d": "ZL return, 21 days",
    "ret_63d": "ZL return, 63 days",
    "sma_ratio_10": "price vs 10-day average",
    "sma_ratio_20": "price vs 20-day average",
    "sma_ratio_50": "price vs 50-day average",
    "sma_ratio_200": "price vs 200-day average",
    "ema_ratio_10": "price vs 10-day EMA",
    "ema_ratio_20": "price vs 20-day EMA",
    "ema_ratio_50": "price vs 50-day EMA",
    "ema_ratio_200": "price vs 200-day EMA",
    "rsi_14": "RSI, 14 days",
    "macd": "MACD line",
    "macd_signal": "MACD signal",
    "macd_hist": "MACD histogram",
    "bb_pctb_20": "Bollinger %B, 20 days",
    "atr_14_pct": "average true range, 14 days",
    "rv_5": "realised volatility, 5 days",
    "rv_21": "realised volatility, 21 days",
    "rv_63": "realised volatility, 63 days",
    "volume_z_21": "volume z-score, 21 days",
    "dist_52w_high": "distance to 52-week high",
    "dist_52w_low": "distance to 52-week low",
    "board_crush": "board crush margin",
    "oil_share": "oil share of crush value",
    "zs_ret_1d": "soybean return, 1 day",
    "cl_ret_1d": "crude oil return, 1 day",
    "es_ret_1d": "S&P 500 return, 1 day",
    "zc_ret_1d": "corn return, 1 day",
    "cl_ret_5d": "crude oil return, 5 days",
    "es_ret_5d": "S&P 500 return, 5 days",
    "corr_zl_cl_63": "correlation with crude, 63 days",
    "corr_zl_es_63": "correlation with S&P 500, 63 days",
    "corr_zl_zs_63": "correlation with soybeans, 63 days",
    "dgs10": "10-year Treasury yield",
    "dgs2": "2-year Treasury yield",
    "term_spread": "10y-2y Treasury spread",
    "t10yie": "10-year breakeven inflation",
    "fed_funds": "fed funds rate",
    "cpi_yoy": "CPI inflation, year on year",
    "usd_broad_chg_21": "broad dollar index, 21-day change",
    "brent_wti_spread": "Brent-WTI spread",
    "brl_usd_chg_21": "Brazilian real, 21-day change",
    "cot_zl_net_pct": "speculators' net position (COT)",
    "cot_zl_net_chg": "speculators' net position, weekly change",
    "wx_tmax_anom_7d": "US Midwest heat anomaly, 7 days",
    "wx_prcp_anom_30d": "US Midwest rain anomaly, 30 days",
}


class SiteError(ZlflowError):
    """The warehouse lacks what the site publishes."""


def feature_label(feature: str) -> str:
    """A reader's name for a feature column, falling back to the column name spelled out."""
    return FEATURE_LABELS.get(feature, feature.replace("_", " "))


def _json_value(value: Any) -> Any:
    """A JSON-ready value: ISO dates, NaN as null, floats to 12 significant digits.

    Rounding keeps a rerun byte-identical where a parallel sum differs in its last bit.
    """
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        number = float(value)
        return float(f"{number:.12g}") if math.isfinite(number) else None
    return value


def _sort_key(row: Sequence[Any]) -> tuple[tuple[bool, Any], ...]:
    return tuple((v is None, "" if v is None else v) for v in row)


def view_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A view's rows as JSON records, ordered by every column in turn (nulls last)."""
    columns = list(frame.columns)
    rows = [
        [_json_value(v) for v in row]
        for row in frame.astype(object).itertuples(index=False, name=None)
    ]
    rows.sort(key=_sort_key)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _json_text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, indent=1) + "\n"


def _json_rows(rows: list[dict[str, Any]]) -> str:
    """Compact JSON, one record per line: small to serve, readable in a diff."""
    lines = [
        json.dumps(r, ensure_ascii=False, allow_nan=False, separators=(",", ":")) for r in rows
    ]
    return "[\n" + ",\n".join(lines) + ("\n]\n" if lines else "]\n")


def site_data(
    warehouse: Warehouse, views: Sequence[str], history_sessions: int, top: int
) -> dict[str, Any]:
    """Every API view in full, plus the price history and the subsets the charts draw."""
    missing = sorted(set(REQUIRED_VIEWS) - set(views))
    if missing:
        raise SiteError(f"the site needs the API views {missing}; the views given: {sorted(views)}")
    frames = {
        view: warehouse.query_arrow(f"SELECT * FROM ${{api}}.{view}").to_pandas()
        for view in sorted(views)
    }
    prices = warehouse.query_arrow(
        "SELECT trade_date, close FROM ${staging}.futures_daily WHERE symbol = 'ZL' "
        "ORDER BY trade_date DESC LIMIT @n",
        {"n": history_sessions},
    ).to_pandas()
    if prices.empty:
        raise SiteError("staging.futures_daily holds no ZL bars: nothing to publish")
    prices = prices.sort_values("trade_date", ignore_index=True)
    history = frames["vw_zl_forecast_history"]
    backtest = history[history["kind"] == "backtest"]
    drivers = frames["vw_zl_top_drivers"]
    return {
        "views": frames,
        "prices": prices,
        "history": backtest[backtest["target_date"] >= prices["trade_date"].min()],
        # Every scored backtest forecast (folds 1 and later) with its outcome: the evidence.
        "scored": backtest[(backtest["fold"] >= 1) & backtest["realised_log_return"].notna()],
        "drivers": drivers[drivers["rank"] <= top].sort_values(["horizon", "model", "rank"]),
        "verdicts": frames["vw_zl_backtest_verdicts"].sort_values(["horizon", "model", "metric"]),
        "latest": frames["vw_zl_latest_forecast"].sort_values(["horizon", "model"]),
    }


def _iso(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def backtest_band(backtest: pd.DataFrame) -> tuple[str, str, pd.DataFrame] | None:
    """The backtest rows the fan chart draws: the headline model at 1m (or the first)."""
    if backtest.empty:
        return None
    models = set(backtest["model"])
    model = HEADLINE if HEADLINE in models else sorted(models)[0]
    horizons = sorted(backtest["horizon"].unique())
    horizon = "1m" if "1m" in horizons else horizons[0]
    rows = backtest[(backtest["model"] == model) & (backtest["horizon"] == horizon)]
    return model, horizon, rows.sort_values("target_date")


def site_meta(data: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """What the page shows beyond the views: data dates, the backtest band's end, labels."""
    prices, history = data["prices"], data["views"]["vw_zl_forecast_history"]
    live = history[history["kind"] == "live"]
    band = backtest_band(history[history["kind"] == "backtest"])
    backtest: dict[str, Any] = {"test_sessions": settings.get("test_sessions")}
    if band is not None:
        model, horizon, rows = band
        end = pd.Timestamp(rows["target_date"].max())
        sessions = pd.DatetimeIndex(pd.to_datetime(prices["trade_date"]))
        backtest |= {
            "model": model,
            "horizon": horizon,
            "last_as_of_date": _iso(rows["as_of_date"].max()),
            "last_target_date": _iso(end),
            # Sessions after the band's end up to the latest bar (None: before the chart).
            "sessions_to_latest_data": int((sessions > end).sum()) if end >= sessions[0] else None,
        }
    features = sorted(set(data["views"]["vw_zl_top_drivers"]["feature"]))
    return {
        "data_through": _iso(prices["trade_date"].iloc[-1]),
        "live_as_of_date": _iso(live["as_of_date"].max()) if not live.empty else None,
        "backtest": backtest,
        "horizon_days": {
            str(r.horizon): int(r.horizon_days)
            for r in data["latest"][["horizon", "horizon_days"]].drop_duplicates().itertuples()
        },
        "horizons": sorted(set(history["horizon"])),
        "headline_model": HEADLINE,
        "history_sessions": settings["history_sessions"],
        "p_up_low": settings["p_up_low"],
        "p_up_high": settings["p_up_high"],
        "live_min_matured": settings["live_min_matured"],
        "feature_labels": {f: feature_label(f) for f in features},
        "charts": list(CHARTS),
        "views": sorted(data["views"]),
    }


def _fan(data: dict[str, pd.DataFrame]) -> plt.Figure:
    prices, latest, history = data["prices"], data["latest"], data["history"]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(prices["trade_date"], prices["close"], color="black", lw=1, label="ZL close")
    band = backtest_band(history)
    if band is not None:
        headline, horizon, shown = band
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
    if not drivers.empty:
        models = set(drivers["model"])
        model = HEADLINE if HEADLINE in models else str(drivers["model"].iloc[0])
        mine = drivers[drivers["model"] == model]
        drivers = mine[mine["horizon"] == mine["horizon"].iloc[0]].iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * max(len(drivers), 1) + 1.4))
    if not drivers.empty:
        colors = ["tab:green" if v > 0 else "tab:red" for v in drivers["contribution"]]
        ax.barh(
            [feature_label(f) for f in drivers["feature"]], drivers["contribution"], color=colors
        )
        ax.set_title(
            f"What moves the latest {drivers['model'].iloc[0]} {drivers['horizon'].iloc[0]} "
            "median (TreeSHAP, log return)",
            fontsize=9,
        )
        ax.tick_params(axis="y", labelsize=8)
    ax.axvline(0, color="black", lw=0.8)
    return fig


def _metrics(data: dict[str, pd.DataFrame]) -> plt.Figure:
    """Every verdict metric's difference from its baseline with a 95% interval, per horizon."""
    verdicts = data["verdicts"]
    fig, axes = plt.subplots(1, len(SKILL_PANELS), figsize=(15, 4), squeeze=False)
    for ax, (metric, baseline, title) in zip(axes[0], SKILL_PANELS, strict=True):
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


def _render(fig: plt.Figure, png: str | Path | None) -> str:
    fig.tight_layout()
    if png is not None:
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=100, metadata={"Software": None})
    buffer = io.StringIO()
    # Fixed SVG ids and no timestamp, so the same data draws the same bytes; text stays
    # text (readable, searchable labels) rather than glyph outlines.
    with plt.rc_context({"svg.hashsalt": "zlflow", "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def render_charts(
    data: dict[str, Any], settings: Mapping[str, Any], pngs: Mapping[str, str | Path]
) -> dict[str, str]:
    """Every chart as SVG markup (and a PNG copy where a path is given)."""
    figures = {
        "fan": lambda: _fan(data),
        "direction": lambda: _direction(data, settings["p_up_low"], settings["p_up_high"]),
        "drivers": lambda: _drivers(data),
        "metrics": lambda: _metrics(data),
        "coverage": lambda: _coverage(data),
        "reliability": lambda: _reliability(data),
        "pit": lambda: _pit(data),
    }
    return {name: _render(figures[name](), pngs.get(name)) for name in CHARTS}


def _template() -> jinja2.Template:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("zlflow", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
    ).get_template("site.html")


def _embedded(payload: Any) -> str:
    """JSON safe inside a <script> element: no "<" there, so nothing can close it early."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")


def build_site(
    warehouse: Warehouse,
    settings: Mapping[str, Any],
    views: Sequence[str],
    site: str | Path,
    html: str | Path | None = None,
    pngs: Mapping[str, str | Path] | None = None,
) -> dict[str, Any]:
    """Write the site folder (and the one-file ``html`` copy); return its meta.json."""
    data = site_data(warehouse, views, settings["history_sessions"], settings["top_drivers"])
    meta = site_meta(data, settings)
    records = {view: view_records(frame) for view, frame in data["views"].items()}
    svgs = render_charts(data, settings, pngs or {})
    root = Path(site)
    for view, rows in records.items():
        _write_text(root / "api" / f"{view}.json", _json_rows(rows))
    for name, svg in svgs.items():
        _write_text(root / "charts" / f"{name}.svg", svg)
    _write_text(root / "meta.json", _json_text(meta))
    template = _template()
    _write_text(
        root / "index.html", template.render(embedded=None, charts=None, page_views=PAGE_VIEWS)
    )
    if html is not None:
        payload = {"meta": meta, "views": {v: records[v] for v in PAGE_VIEWS}}
        _write_text(
            Path(html),
            template.render(embedded=_embedded(payload), charts=svgs, page_views=PAGE_VIEWS),
        )
    return meta
