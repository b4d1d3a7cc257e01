"""Exchange calendar and roll schedule come from pandas-market-calendars, not a hand list."""

from __future__ import annotations

import datetime as dt

import pytest

from zlflow.calendar import calendar_table, roll_table, trading_days
from zlflow.errors import ConfigError


def test_memorial_day_2023_maps_to_the_next_session() -> None:
    table = calendar_table("CBOT_Agriculture", "2023-05-25", "2023-06-02").set_index(
        "calendar_date"
    )
    assert not table.loc[dt.date(2023, 5, 29), "is_trading_day"]
    for day in (27, 28, 29, 30):
        assert table.loc[dt.date(2023, 5, day), "next_trade_date"] == dt.date(2023, 5, 30)
    assert table.loc[dt.date(2023, 5, 26), "next_trade_date"] == dt.date(2023, 5, 26)
    # Consecutive sessions have consecutive indexes, so gaps can be counted in sessions.
    assert table.loc[dt.date(2023, 5, 30), "trade_date_index"] == (
        table.loc[dt.date(2023, 5, 26), "trade_date_index"] + 1
    )


def test_unknown_exchange_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"calendar\.exchange"):
        trading_days("NOT_AN_EXCHANGE", "2023-01-01", "2023-02-01")


def test_roll_dates_are_sessions_before_first_notice() -> None:
    sessions = trading_days("CBOT_Agriculture", "2023-01-01", "2023-12-31")
    rolls = roll_table("ZL", [7], 5, sessions).set_index("contract")
    # July 2023: first notice day is the last session of June (the 30th); five sessions
    # earlier is 2023-06-23, after the sample's 2023-06-16 July-contract close.
    assert rolls.loc["2023-07", "first_notice_date"] == dt.date(2023, 6, 30)
    assert rolls.loc["2023-07", "roll_date"] == dt.date(2023, 6, 23)
    same_day = roll_table("ZL", [7], 0, sessions).set_index("contract")
    assert same_day.loc["2023-07", "roll_date"] == dt.date(2023, 6, 30)


def test_bad_contract_months_are_rejected() -> None:
    sessions = trading_days("CBOT_Agriculture", "2023-01-01", "2023-12-31")
    with pytest.raises(ConfigError, match="contract_months"):
        roll_table("ZL", [0, 13], 5, sessions)
