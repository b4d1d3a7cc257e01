"""Independent pandas reference for the warehouse's feature SQL.

The SQL in ``sql/features/`` has to express recursive filters and rolling statistics in
window functions (closed-form EMAs, a partial-fraction MACD signal, sums of adjusted log
returns). This module recomputes every indicator the plain way, straight from its
textbook definition, so that the tests compare two implementations that share nothing
but the staging input. Nothing here is ported from the SQL: EMAs are pandas'
``ewm(adjust=False)`` recursion, returns are logs of price ratios, windows are pandas
``rolling`` windows and cross-market closes are joined with ``merge_asof``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Trading days per year used to annualise daily volatility.
TRADING_DAYS = 252

#: Technical indicator columns in ``features.technical_daily`` that the reference rebuilds.
TECHNICAL_COLUMNS: tuple[str, ...] = (
    "ret_1d",
    "ret_5d",
    "ret_21d",
    "ret_63d",
    "sma_ratio_10",
    "sma_ratio_20",
    "sma_ratio_50",
    "sma_ratio_200",
    "ema_ratio_10",
    "ema_ratio_20",
    "ema_ratio_50",
    "ema_ratio_200",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_pctb_20",
    "atr_14_pct",
    "rv_5",
    "rv_21",
    "rv_63",
    "volume_z_21",
    "dist_52w_high",
    "dist_52w_low",
)

#: Cross-asset columns in ``features.cross_asset_daily`` that the reference rebuilds.
CROSS_ASSET_COLUMNS: tuple[str, ...] = (
    "board_crush",
    "oil_share",
    "zs_ret_1d",
    "cl_ret_1d",
    "es_ret_1d",
    "zc_ret_1d",
    "cl_ret_5d",
    "es_ret_5d",
    "corr_zl_cl_63",
    "corr_zl_es_63",
    "corr_zl_zs_63",
)


def recursive_ema(values: np.ndarray, alpha: float) -> np.ndarray:
    """EMA by its defining recursion, one row at a time: E_0 = x_0, E_t = a x_t + (1-a) E_(t-1).

    Deliberately an explicit loop rather than a library call: it is the definition the
    SQL closed form must reproduce, written so that nobody has to trust a library's
    ``adjust`` semantics to read it.
    """
    out = np.empty(len(values), dtype=float)
    if len(values) == 0:
        return out
    out[0] = values[0]
    for t in range(1, len(values)):
        out[t] = alpha * values[t] + (1.0 - alpha) * out[t - 1]
    return out


def _span_ema(series: pd.Series, span: int) -> pd.Series:
    """Span-n EMA (alpha = 2/(n+1)) seeded with the first value, as traders define it."""
    return series.ewm(span=span, adjust=False).mean()


def _wilder(series: pd.Series, period: int) -> pd.Series:
    """Wilder's smoothing (alpha = 1/n), seeded with the first non-missing value."""
    return series.ewm(alpha=1.0 / period, adjust=False).mean()


def _windows(values: pd.Series, n: int) -> np.ndarray:
    """Trailing windows of ``n`` rows, one per row (all-NaN rows before the first full one)."""
    array = values.to_numpy(dtype=float)
    padded = np.concatenate([np.full(n - 1, np.nan), array])
    return np.lib.stride_tricks.sliding_window_view(padded, n)


def rolling_std(values: pd.Series, n: int, ddof: int) -> pd.Series:
    """Standard deviation of each trailing ``n``-row window, computed two-pass per window.

    Not ``Series.rolling().std()``: pandas updates a running variance by adding and
    removing rows, and the cancellation error of that update grows with the level of
    the data against its spread. On the sample it is off by 1.5e-8 (ZC volume, 2001)
    and 7e-11 (ES Bollinger %B, 2017) from exact rational arithmetic, while a two-pass
    sd per window is within 1e-15. A full window is required (NaN inside gives NaN).
    """
    windows = _windows(values, n)
    with np.errstate(invalid="ignore"):
        centred = windows - windows.mean(axis=1, keepdims=True)
        sd = np.sqrt((centred**2).sum(axis=1) / (n - ddof))
    return pd.Series(sd, index=values.index)


def rolling_corr(left: pd.Series, right: pd.Series, n: int) -> pd.Series:
    """Pearson correlation of each trailing ``n``-row window pair, two-pass per window.

    Two-pass for the same reason as :func:`rolling_std`. A window with any missing
    value on either side is NaN, like pandas' ``min_periods=n``.
    """
    a = _windows(left, n)
    b = _windows(right, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        da = a - a.mean(axis=1, keepdims=True)
        db = b - b.mean(axis=1, keepdims=True)
        corr = (da * db).sum(axis=1) / np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))
    return pd.Series(corr, index=left.index)


def _log_ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """ln(numerator / denominator); NaN where the ratio is not positive (no log exists)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(np.log(numerator / denominator), index=numerator.index)


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """Wilder's true range: the bar's range widened to the previous close (gaps count).

    The first bar has no previous close, so its true range is its own high - low.
    """
    prev_close = close.shift(1)
    candidates = pd.concat(
        [high - low, (high - prev_close).abs(), (low - prev_close).abs()], axis=1
    )
    out = candidates.max(axis=1, skipna=False)
    out.iloc[0] = high.iloc[0] - low.iloc[0]
    return out


def ema_input_series(frame: pd.DataFrame) -> dict[str, tuple[float, np.ndarray]]:
    """Every series the features smooth exponentially, as (alpha, values) of one symbol.

    Keys are ``features.ema``'s column names. Values start at the first row where the
    series exists (gains and losses need a previous close), which is where the recursion
    is seeded.
    """
    bars = frame.sort_values("trade_date").reset_index(drop=True)
    close = bars["adj_close"].astype(float)
    delta = close.diff()
    out: dict[str, tuple[float, np.ndarray]] = {
        f"ema_{n}": (2.0 / (n + 1), close.to_numpy()) for n in (9, 10, 12, 20, 26, 50, 200)
    }
    out["avg_gain_14"] = (1.0 / 14, delta.clip(lower=0).to_numpy()[1:])
    out["avg_loss_14"] = (1.0 / 14, (-delta).clip(lower=0).to_numpy()[1:])
    tr = true_range(bars["adj_high"].astype(float), bars["adj_low"].astype(float), close)
    out["atr_14"] = (1.0 / 14, tr.to_numpy())
    return out


def technical_one_symbol(frame: pd.DataFrame) -> pd.DataFrame:
    """Every technical indicator of one market, from its roll-adjusted daily bars.

    ``frame`` holds one symbol's staging rows (adj_close, adj_high, adj_low, volume). It
    is sorted by trade_date here so each value depends only on rows up to its own date.
    """
    bars = frame.sort_values("trade_date").reset_index(drop=True)
    close = bars["adj_close"].astype(float)
    high = bars["adj_high"].astype(float)
    low = bars["adj_low"].astype(float)
    volume = bars["volume"].astype(float)
    out = pd.DataFrame({"symbol": bars["symbol"], "trade_date": bars["trade_date"]})

    # Daily log return of the adjusted price; where no log exists (a non-positive price,
    # CL's -37.63 on 2020-04-20) the documented rule counts the day as 0. A k-day return
    # is the sum of the last k daily returns: NaN until k returns exist.
    daily = _log_ratio(close, close.shift(1)).fillna(0.0)
    daily.iloc[0] = np.nan
    for k, name in ((1, "ret_1d"), (5, "ret_5d"), (21, "ret_21d"), (63, "ret_63d")):
        out[name] = daily.rolling(k, min_periods=k).sum()

    # Price relative to its simple and exponential moving averages.
    for n in (10, 20, 50, 200):
        out[f"sma_ratio_{n}"] = close / close.rolling(n, min_periods=n).mean() - 1
        out[f"ema_ratio_{n}"] = close / _span_ema(close, n) - 1

    # Wilder RSI: smoothed gains over smoothed losses; no losses at all means RSI 100.
    delta = close.diff()
    avg_gain = _wilder(delta.clip(lower=0), 14)
    avg_loss = _wilder((-delta).clip(lower=0), 14)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100 - 100 / (1 + avg_gain / avg_loss)
    out["rsi_14"] = rsi.where(avg_loss != 0, 100.0).where(avg_loss.notna())

    # MACD and its signal, both in fractions of the current price.
    macd_line = _span_ema(close, 12) - _span_ema(close, 26)
    out["macd"] = macd_line / close
    out["macd_signal"] = _span_ema(macd_line, 9) / close
    out["macd_hist"] = out["macd"] - out["macd_signal"]

    # Bollinger %B on 20 sessions, population standard deviation, bands at 2 sd.
    sma20 = close.rolling(20, min_periods=20).mean()
    sd20 = rolling_std(close, 20, ddof=0)
    out["bb_pctb_20"] = ((close - (sma20 - 2 * sd20)) / (4 * sd20)).where(sd20 != 0)

    # Average true range (Wilder) as a fraction of price.
    out["atr_14_pct"] = _wilder(true_range(high, low, close), 14) / close

    # Annualised realised volatility of daily log returns (sample sd, full windows only).
    for n in (5, 21, 63):
        out[f"rv_{n}"] = rolling_std(daily, n, ddof=1) * np.sqrt(TRADING_DAYS)

    # Volume z-score against the previous 21 sessions including today.
    vol_mean = volume.rolling(21, min_periods=21).mean()
    vol_sd = rolling_std(volume, 21, ddof=1)
    out["volume_z_21"] = ((volume - vol_mean) / vol_sd).where(vol_sd != 0)

    # Distance to the 52-week (252-session) high and low of the adjusted range.
    out["dist_52w_high"] = close / high.rolling(252, min_periods=252).max() - 1
    out["dist_52w_low"] = close / low.rolling(252, min_periods=252).min() - 1
    return out


def technical_features(futures: pd.DataFrame) -> pd.DataFrame:
    """Technical indicators of every symbol in ``futures`` (the staging futures table)."""
    parts = [technical_one_symbol(group) for _, group in futures.groupby("symbol", sort=True)]
    return pd.concat(parts, ignore_index=True)


def _latest_close(spine: pd.DataFrame, market: pd.DataFrame, column: str) -> pd.Series:
    """The market's ``column`` as last known on or before each spine date (as-of join)."""
    right = market[["trade_date", column]].dropna().sort_values("trade_date")
    joined = pd.merge_asof(
        spine[["trade_date"]],
        right,
        on="trade_date",
        direction="backward",
        allow_exact_matches=True,
    )
    return joined[column].astype(float)


def cross_asset_features(futures: pd.DataFrame, spine_symbol: str = "ZL") -> pd.DataFrame:
    """Soy-complex and cross-market features on the spine market's trade dates.

    Each other market contributes its latest close on or before the spine date, so a
    holiday in one market carries its previous close forward instead of dropping the
    row. Returns are log changes of those as-of closes between consecutive spine dates,
    which is what a model standing on the spine date could have observed.
    """
    by_symbol = {symbol: group for symbol, group in futures.groupby("symbol")}
    spine = by_symbol[spine_symbol].sort_values("trade_date").reset_index(drop=True)
    zl_close = spine["close"].astype(float)
    zm_close = _latest_close(spine, by_symbol["ZM"], "close")
    zs_close = _latest_close(spine, by_symbol["ZS"], "close")
    zs_adj = _latest_close(spine, by_symbol["ZS"], "adj_close")
    cl = by_symbol["CL"]
    cl_close = _latest_close(spine, cl[cl["close"] > 0], "close")
    es_close = _latest_close(spine, by_symbol["ES"], "close")
    zc_close = _latest_close(spine, by_symbol["ZC"], "close")

    out = pd.DataFrame({"trade_date": spine["trade_date"]})
    # Board crush in $/bu: 11 lb of oil ($/lb = cents/100) plus 0.022 short tons of meal,
    # minus a bushel of beans (cents/bu).
    out["board_crush"] = 0.11 * zl_close + 0.022 * zm_close - zs_close / 100
    out["oil_share"] = 0.11 * zl_close / (0.11 * zl_close + 0.022 * zm_close)
    returns = {
        "zs_ret_1d": _log_ratio(zs_adj, zs_adj.shift(1)),
        "cl_ret_1d": _log_ratio(cl_close, cl_close.shift(1)),
        "es_ret_1d": _log_ratio(es_close, es_close.shift(1)),
        "zc_ret_1d": _log_ratio(zc_close, zc_close.shift(1)),
    }
    for name, values in returns.items():
        out[name] = values
    out["cl_ret_5d"] = returns["cl_ret_1d"].rolling(5, min_periods=5).sum()
    out["es_ret_5d"] = returns["es_ret_1d"].rolling(5, min_periods=5).sum()
    zl_return = spine["adj_log_return"].astype(float)
    for market in ("cl", "es", "zs"):
        other = returns[f"{market}_ret_1d"]
        # A full window needs 63 return pairs; the first spine date has no return.
        out[f"corr_zl_{market}_63"] = rolling_corr(zl_return, other, 63)
    return out
