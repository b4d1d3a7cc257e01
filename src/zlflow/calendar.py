"""Exchange calendar and contract-roll schedule, as tables the staging SQL joins.

The trading calendar comes from pandas-market-calendars (a maintained exchange
calendar, not a hand-kept holiday list). The roll schedule is derived from it: the
front-month continuation switches contract ``days_before_first_notice`` trading days
before first notice day (the last trading day of the month before delivery).
"""

from __future__ import annotations

import pandas as pd
import pandas_market_calendars as mcal

from zlflow.errors import ConfigError


def trading_days(exchange: str, start: str, end: str) -> pd.DatetimeIndex:
    """Sessions of ``exchange`` between two dates, as naive midnight timestamps."""
    try:
        calendar = mcal.get_calendar(exchange)
    except RuntimeError as err:
        raise ConfigError(
            f"unknown exchange calendar {exchange!r} (calendar.exchange or calendar.exchanges)"
        ) from err
    days = calendar.valid_days(start_date=start, end_date=end)
    return pd.DatetimeIndex(days).tz_localize(None).normalize().unique().sort_values()


def calendar_table(exchange: str, start: str, end: str) -> pd.DataFrame:
    """One row per calendar date: whether it trades and the next session on or after it."""
    sessions = trading_days(exchange, start, end)
    dates = pd.date_range(start, end, freq="D")
    position = sessions.searchsorted(dates)
    inside = position < len(sessions)
    next_session = pd.Series(pd.NaT, index=dates, dtype="datetime64[us]")
    next_session[inside] = sessions[position[inside]]
    return pd.DataFrame(
        {
            "exchange": exchange,
            "calendar_date": dates.astype("datetime64[us]").date,
            "is_trading_day": dates.isin(sessions),
            "next_trade_date": next_session.dt.date.to_numpy(),
            "trade_date_index": pd.Series(position, dtype="int64").where(inside).astype("Int64"),
        }
    )


def roll_table(
    symbol: str,
    contract_months: list[int],
    days_before_first_notice: int,
    sessions: pd.DatetimeIndex,
) -> pd.DataFrame:
    """Scheduled roll dates of a front-month continuation, one row per contract.

    ``roll_date`` is the session ``days_before_first_notice`` sessions before first
    notice day, the first one the continuation shows the next contract; the close-to-close change
    into it mixes two contracts, so staging treats that day's return as a roll gap.
    """
    if not contract_months or any(m < 1 or m > 12 for m in contract_months):
        raise ConfigError(f"rolls.{symbol}.contract_months must be months 1-12: {contract_months}")
    rows = []
    for year in range(sessions[0].year, sessions[-1].year + 2):
        for month in sorted(contract_months):
            delivery = pd.Timestamp(year, month, 1)
            before = sessions[sessions < delivery]
            if len(before) <= days_before_first_notice or before[-1] < delivery - pd.Timedelta(
                days=31
            ):
                continue
            first_notice = before[-1]
            rows.append(
                {
                    "symbol": symbol,
                    "contract": f"{year}-{month:02d}",
                    "first_notice_date": first_notice.date(),
                    "roll_date": before[-1 - days_before_first_notice].date(),
                }
            )
    return pd.DataFrame(rows, columns=["symbol", "contract", "first_notice_date", "roll_date"])
