"""Three trading days replayed through the morning run (`deploy/daily.py`, as `make daily`).

Local replay servers for Databento, FRED and Open-Meteo serve the bundled sample up to a
simulated today (tests/replay_servers.py). The workflow copy runs the default live sources
once per simulated day, with the run date set in config (`sources.end_date` and
`alerts.as_of`): six futures, nine FRED series and one weather location. It forecasts one
2-session horizon, so outcomes mature inside the three days, with LightGBM on two folds:
the smallest config that still has folds, tuning, a live model, calibration, the ensemble
and publishing.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from replay_servers import ARCHIVE_PATH, FRED_PATH, Replay
from workflow_tools import ROOT, copy_workflow

from zlflow.calendar import trading_days
from zlflow.warehouse.duckdb import DuckDBWarehouse

pytestmark = pytest.mark.slow

RESULTS = Path("results", "live")
HORIZON, HORIZON_DAYS = "2d", 2
FRED_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # fake, only ever local
DATABENTO_KEY = "db-ReplayTestKey0123456789abcdefgh"  # fake, shaped like a Databento key
GET_RANGE = "/v0/timeseries.get_range"


def replay_days(sample: Path) -> list[date]:
    """The last three CBOT sessions of the sample's ZL bars (2024-06-18, 20, 21), across the
    Juneteenth holiday (06-19): the first day's 2-session forecast matures on the last."""
    days = trading_days("CBOT_Agriculture", "2024-06-01", "2024-06-21")
    return [d.date() for d in days[-3:]]


@dataclass
class Day:
    """What one simulated day's morning run did and left."""

    day: date
    output: str
    fetched: list[tuple[str, dict[str, str]]]
    forecasts: pd.DataFrame  # the published live forecast rows
    track: pd.DataFrame  # api.vw_zl_live_track_record
    history: pd.DataFrame  # api.vw_zl_forecast_history, live rows
    fold_table: bytes


def overlay(urls: dict[str, str], day: date) -> dict[str, object]:
    """The replay's config: default live sources at the replay servers, run date ``day``."""
    return {
        "sources": {
            "end_date": day.isoformat(),
            "retry": {"max_tries": 2, "base_delay_s": 0.01},
            "databento": {"gateway": urls["databento"], "delay_days": 0},
            "fred": {"base_url": urls["fred"]},
            # One of the four default locations: the weather anomalies need only one, and
            # each location is an ingest job a day.
            "weather": {
                "base_url": urls["weather"],
                "locations": [
                    {
                        "name": "iowa_central",
                        "region": "iowa",
                        "latitude": 42.03,
                        "longitude": -93.47,
                    }
                ],
            },
        },
        "alerts": {"as_of": day.isoformat()},
        "walk_forward": {"max_folds": 2},
        "tuning": {"n_trials": 2},
        "model_params": {"lgbm": {"num_boost_round": 60}},
    }


def published(workdir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    datasets = {"forecasts": "forecasts", "api": "api"}
    with DuckDBWarehouse(workdir / RESULTS / "warehouse.duckdb", datasets) as wh:
        live = wh.query_arrow(
            "SELECT * FROM ${forecasts}.zl_forecasts_daily WHERE kind = 'live' "
            "ORDER BY as_of_date, model"
        ).to_pandas()
        track = wh.query_arrow(
            "SELECT * FROM ${api}.vw_zl_live_track_record ORDER BY model"
        ).to_pandas()
        history = wh.query_arrow(
            "SELECT * FROM ${api}.vw_zl_forecast_history WHERE kind = 'live' "
            "ORDER BY as_of_date, model"
        ).to_pandas()
    return live, track, history


def morning_run(workdir: Path, env: dict[str, str], day: date) -> str:
    """`deploy/daily.py` for one simulated day; its log (Snakemake's output) is returned."""
    log_dir = workdir / "daily-logs" / day.isoformat()
    result = subprocess.run(
        [sys.executable, "deploy/daily.py", "--log-dir", str(log_dir)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = "\n".join(p.read_text() for p in sorted(log_dir.glob("*.log")))
    if result.returncode:
        raise AssertionError(f"morning run of {day} failed:\n{result.stderr}\n{output}")
    return output


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Day], str, Replay]:
    """Three morning runs, one per simulated trading day, then the last day's again."""
    tmp = tmp_path_factory.mktemp("replay")
    workdir = copy_workflow(tmp / "workflow")
    shutil.copytree(ROOT / "deploy", workdir / "deploy")
    config = workdir / "config" / "config.yaml"
    text = config.read_text()
    config.write_text(text.replace("  1w: 5\n  1m: 21\n  3m: 63\n", f"  {HORIZON}: 2\n"))
    server = Replay(ROOT / "data" / "sample")
    days: list[Day] = []
    with server.serving(tmp / "ca.pem") as urls:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")} | {
            "FRED_API_KEY": FRED_KEY,
            "DATABENTO_API_KEY": DATABENTO_KEY,
            "REQUESTS_CA_BUNDLE": str(tmp / "ca.pem"),
            "ZLFLOW_DAILY_CONFIGFILE": "replay.yaml",
        }
        for day in replay_days(ROOT / "data" / "sample"):
            server.today = day
            (workdir / "replay.yaml").write_text(yaml.safe_dump(overlay(urls, day)))
            seen = len(server.requests)
            output = morning_run(workdir, env, day)
            live, track, history = published(workdir)
            folds = (workdir / RESULTS / "folds" / HORIZON / "fold_table.csv").read_bytes()
            days.append(Day(day, output, server.requests[seen:], live, track, history, folds))
        again = morning_run(workdir, env, days[-1].day)
    return workdir, days, again, server


Replayed = tuple[Path, list[Day], str, Replay]


def executed(output: str) -> set[str]:
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", output, flags=re.MULTILINE))


def test_each_day_appends_one_live_forecast_per_model_and_keeps_earlier_rows(
    replay: Replayed,
) -> None:
    _, days, _, _ = replay
    earlier = days[0].forecasts.iloc[:0]
    for n, day in enumerate(days, start=1):
        live = day.forecasts
        assert len(live) == 2 * n, day.day  # lgbm and the ensemble, one row each per day
        assert sorted(live["as_of_date"].unique()) == [d.day for d in days[:n]]
        today = live[live["as_of_date"] == day.day]
        assert sorted(today["model"]) == ["ensemble", "lgbm"]
        assert (today["horizon"] == HORIZON).all() and (today["target_date"] > day.day).all()
        if day.day == date(2024, 6, 18):  # two sessions on, past the Juneteenth holiday
            assert (today["target_date"] == date(2024, 6, 21)).all()
        assert (today["price_q2_5"] <= today["price_q97_5"]).all()
        # An earlier day's rows are never rewritten: every column, byte for byte.
        kept = live[live["as_of_date"] < day.day].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept, earlier)
        earlier = live.reset_index(drop=True)


def test_a_new_day_reruns_ingest_warehouse_and_the_live_model_but_no_fold(
    replay: Replayed,
) -> None:
    _, days, _, _ = replay
    first = executed(days[0].output)
    assert {"ingest_databento", "tune", "fit_fold", "live_forecast", "upload_forecasts"} <= first
    for day in days[1:]:
        jobs = executed(day.output)
        assert {"ingest_databento", "ingest_fred", "ingest_weather"} <= jobs, day.day
        assert {"export_training", "live_forecast", "upload_forecasts", "dashboard"} <= jobs
        assert not jobs & {"fit_fold", "tune"}, (day.day, jobs)
        assert day.fold_table == days[0].fold_table  # the folds' rows are unchanged


def test_each_day_fetches_only_what_is_new(replay: Replayed) -> None:
    """After the first day each source asks for its recent days only: its lookback of
    revisions (FRED: plus the series' release lag) up to the run date, never the history."""
    _, days, _, _ = replay
    first = {args["start"][:10] for path, args in days[0].fetched if path == GET_RANGE}
    assert first == {"2010-06-06"}  # sources.start_date
    for before, day in itertools.pairwise(days):
        bars = [args for path, args in day.fetched if path == GET_RANGE]
        assert len(bars) == 6, day.day  # one request per continuous symbol
        for args in bars:
            assert before.day - timedelta(days=3) <= date.fromisoformat(args["start"][:10])
            assert args["end"][:10] == str(day.day + timedelta(days=1))  # the API's is exclusive
        fred = [args for path, args in day.fetched if path == FRED_PATH]
        assert len(fred) == 9
        for args in fred:  # lookback 7 days + the longest release lag (CPI, 45 days)
            assert before.day - timedelta(days=7 + 45) <= date.fromisoformat(
                args["observation_start"]
            )
            assert args["observation_end"] == str(day.day)
        weather = [args for path, args in day.fetched if path == ARCHIVE_PATH]
        assert len(weather) == 1
        for args in weather:  # the archive's lookback: 10 days
            assert before.day - timedelta(days=10) <= date.fromisoformat(args["start_date"])
            assert args["end_date"] == str(day.day)


def test_realised_outcomes_fill_in_as_target_dates_pass(
    replay: Replayed,
) -> None:
    """A 2-session forecast made on day k matures on day k + 2: its realised price is the
    close the Databento replay served for its target date, and the track record scores it."""
    _, days, _, server = replay
    closes = server.bars[server.bars["symbol"] == "ZL"].set_index("trade_date")["close"]
    for n, day in enumerate(days, start=1):
        history = day.history
        passed = history["target_date"] <= day.day
        assert history.loc[~passed, "realised_price"].isna().all(), day.day
        realised = history.loc[passed]
        expected = closes.reindex(pd.to_datetime(realised["target_date"])).to_numpy()
        assert realised["realised_price"].to_numpy() == pytest.approx(expected, rel=1e-9)
        assert len(realised) == 2 * max(0, n - HORIZON_DAYS)
        track = day.track.set_index("model")
        assert sorted(track.index) == ["ensemble", "lgbm"]
        matured = max(0, n - HORIZON_DAYS)
        assert (track["n_live"] == n).all(), day.day
        assert (track["n_matured"] == matured).all(), (day.day, track["n_matured"])
        assert (track["n_pending"] == n - matured).all()
        if matured:
            assert (track["last_matured_as_of_date"] == days[matured - 1].day).all()
            assert (track["last_realised_date"] == day.day).all()
            assert track["coverage_95"].between(0, 1).all()
            assert track["random_walk_pinball_mean"].notna().all()
        else:
            assert track["coverage_95"].isna().all()


def test_a_second_run_the_same_day_does_nothing(replay: Replayed) -> None:
    workdir, days, again, _ = replay
    assert "Nothing to be done" in again, again
    live, _, _ = published(workdir)
    pd.testing.assert_frame_equal(live, days[-1].forecasts)
