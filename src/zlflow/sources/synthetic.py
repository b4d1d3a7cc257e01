"""Seeded synthetic market data in the raw table schemas, for scale and offline tests.

Futures bars follow a front-month continuation: log returns with fat tails whose
volatility switches between a calm and a turbulent regime (a two-state Markov chain),
weak mean reversion of the log price so 20 years stay in a plausible band, and a jump
at each scheduled roll (the same schedule ``calendar.roll_table`` gives staging, so
``staging.futures_daily`` recognises the gaps as rolls). Prices are positive (built in
log space) and OHLC-consistent (high/low wrap open and close). Time is a loop of
vector operations across symbols, so 500 symbols x 20 years (~2.5 M rows) takes
seconds. The same seed gives the same frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from zlflow.calendar import roll_table

SESSIONS_PER_YEAR: Final = 252
DEFAULT_START: Final = "2005-01-03"
ZL_CONTRACT_MONTHS: Final = (1, 3, 5, 7, 8, 9, 10, 12)

# Regimes: daily probability of leaving calm / turbulent; turbulent vol multiplier.
_P_LEAVE_CALM: Final = 1 / 120
_P_LEAVE_TURBULENT: Final = 1 / 30
_TURBULENT_VOL: Final = 2.5
_T_DF: Final = 5  # Student-t shocks, rescaled to unit variance
_HALF_LIFE_SESSIONS: Final = 3 * SESSIONS_PER_YEAR


def sessions_for(start: str | pd.Timestamp, years: int) -> pd.DatetimeIndex:
    """Weekday sessions from ``start``, ``years`` x 252 of them (no holiday calendar)."""
    return pd.bdate_range(start=start, periods=years * SESSIONS_PER_YEAR).astype("datetime64[us]")


def roll_dates(
    sessions: pd.DatetimeIndex,
    contract_months: Sequence[int] = ZL_CONTRACT_MONTHS,
    days_before_first_notice: int = 5,
) -> pd.DatetimeIndex:
    """Scheduled roll sessions (as in ``market_data.roll_calendar``) within ``sessions``."""
    table = roll_table("SYN", list(contract_months), days_before_first_notice, sessions)
    days = pd.DatetimeIndex(pd.to_datetime(table["roll_date"])).astype("datetime64[us]")
    return days[days.isin(sessions)]


def _strings(values: Sequence[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[codes]`` as a pandas str array, built in Arrow (no Python objects per row)."""
    return pd.array(pa.array(list(values), pa.string()).take(pa.array(codes)), dtype="str")


def _t_shocks(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(rng.standard_t(_T_DF, size=shape) * np.sqrt((_T_DF - 2) / _T_DF))


def _regimes(rng: np.random.Generator, n_days: int, n_symbols: int) -> np.ndarray:
    """Boolean [day, symbol]: True while the symbol is in its turbulent regime."""
    turbulent = np.empty((n_days, n_symbols), dtype=bool)
    state = rng.random(n_symbols) < 0.2
    draws = rng.random((n_days, n_symbols))
    for t in range(n_days):
        leave = np.where(state, _P_LEAVE_TURBULENT, _P_LEAVE_CALM)
        state = state ^ (draws[t] < leave)
        turbulent[t] = state
    return turbulent


def synthetic_futures(
    n_symbols: int,
    years: int,
    seed: int = 0,
    *,
    symbols: Sequence[str] | None = None,
    start: str = DEFAULT_START,
    sessions: pd.DatetimeIndex | None = None,
    contract_months: Sequence[int] = ZL_CONTRACT_MONTHS,
    days_before_first_notice: int = 5,
) -> pd.DataFrame:
    """``n_symbols`` x ``years`` of daily bars in the ``raw_futures_daily`` schema.

    ``symbols`` names the series (default ``SYN000``...); ``sessions`` overrides the
    weekday calendar (e.g. ``calendar.trading_days`` for exchange holidays).
    """
    names = list(symbols) if symbols is not None else [f"SYN{i:03d}" for i in range(n_symbols)]
    if len(names) != n_symbols or len(set(names)) != n_symbols:
        raise ValueError(f"need {n_symbols} distinct symbol names, got {names[:5]}...")
    days = sessions if sessions is not None else sessions_for(start, years)
    n_days = len(days)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))

    annual_vol = rng.uniform(0.15, 0.35, n_symbols)
    log_p0 = np.log(rng.uniform(20.0, 400.0, n_symbols))
    carry = rng.normal(0.008, 0.008, n_symbols)  # mean roll gap per symbol: contango > 0
    turbulent = _regimes(rng, n_days, n_symbols)
    sigma = annual_vol / np.sqrt(SESSIONS_PER_YEAR) * np.where(turbulent, _TURBULENT_VOL, 1.0)

    is_roll = np.isin(days, roll_dates(days, contract_months, days_before_first_notice))
    gaps = np.where(is_roll[:, None], carry + rng.normal(0.0, 0.01, (n_days, n_symbols)), 0.0)
    overnight = np.sqrt(0.2) * sigma * _t_shocks(rng, (n_days, n_symbols))
    intraday = np.sqrt(0.8) * sigma * _t_shocks(rng, (n_days, n_symbols))

    # Log open/close with weak mean reversion of the level toward its start.
    kappa = np.log(2) / _HALF_LIFE_SESSIONS
    log_open = np.empty((n_days, n_symbols))
    log_close = np.empty((n_days, n_symbols))
    prev = log_p0.copy()
    for t in range(n_days):
        log_open[t] = prev + gaps[t] + overnight[t] - kappa * (prev - log_p0)
        prev = log_open[t] + intraday[t]
        log_close[t] = prev
    wick = np.abs(rng.normal(0.0, 0.5, (2, n_days, n_symbols))) * sigma
    log_high = np.maximum(log_open, log_close) + wick[0]
    log_low = np.minimum(log_open, log_close) - wick[1]

    base_volume = np.exp(rng.normal(np.log(3e4), 0.8, n_symbols))
    volume = np.round(
        base_volume
        * np.where(turbulent, 1.6, 1.0)
        * np.exp(rng.normal(0.0, 0.3, (n_days, n_symbols)))
    )

    def flat(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(values.T).reshape(-1)  # symbol-major: sorted by key

    zeros = np.zeros(n_days * n_symbols, dtype=np.int64)
    return pd.DataFrame(
        {
            "symbol": _strings(names, np.repeat(np.arange(n_symbols), n_days)),
            "source": _strings(["synthetic"], zeros),
            "label_kind": _strings(["trade_date"], zeros),
            "bar_label": np.tile(np.asarray(days, dtype="datetime64[us]"), n_symbols),
            "open": flat(np.exp(log_open)),
            "high": flat(np.exp(log_high)),
            "low": flat(np.exp(log_low)),
            "close": flat(np.exp(log_close)),
            "volume": flat(volume),
            "source_file": _strings([f"synthetic:seed={seed}"], zeros),
            "source_row": np.tile(np.arange(n_days, dtype="int64"), n_symbols),
        }
    )
