"""Live ingestion through the real Snakemake command line and a real DuckDB file.

FRED and Open-Meteo are a local HTTP server (pytest-httpserver on 127.0.0.1) replaying
the recorded responses in tests/fixtures for whatever range a job asks for; the
synthetic source needs no server. Each test drives `snakemake` on a private copy of
the workflow with `source: live` in its own experiment. Nothing reaches the network.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import trustme
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from workflow_tools import NETWORK_GUARD, SNAKEMAKE, copy_workflow

from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.wap import candidate_datasets

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
RESULTS = Path("results", "live")
CANDIDATE = candidate_datasets({"market_data": "market_data", "staging": "staging"})
FRED_PATH = "/fred/series/observations"
ARCHIVE_PATH = "/v1/archive"
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # a fake FRED-shaped key, only ever local
DATABENTO_KEY = "db-WorkflowTestKey0123456789abcdef"  # fake, shaped like a Databento key
INGEST_JOBS = {
    ("ingest_fred", "results/live/ingest/fred/DGS10.json"),
    ("ingest_weather", "results/live/ingest/weather/iowa_central.json"),
    ("ingest_synthetic", "results/live/ingest/synthetic/futures.json"),
    ("ingest", ""),
}


# --- the replay server -------------------------------------------------------------


def fred_replay(request: Request) -> Response:
    """FRED's observations endpoint over the recorded DGS10 response (2024-01-01..12)."""
    if request.args.get("api_key") != KEY:
        return Response((FIXTURES / "fred_error_400.json").read_bytes(), 400)
    payload = json.loads((FIXTURES / "fred_series_observations_DGS10.json").read_text())
    start = request.args.get("observation_start", "1776-07-04")
    end = request.args.get("observation_end", "9999-12-31")
    rows = [o for o in payload["observations"] if start <= o["date"] <= end]
    offset = int(request.args.get("offset", 0))
    body = payload | {
        "observation_start": start,
        "observation_end": end,
        "count": len(rows),
        "offset": offset,
        "observations": rows[offset : offset + int(request.args["limit"])],
    }
    return Response(json.dumps(body), content_type="application/json")


def archive_replay(request: Request) -> Response:
    """Open-Meteo's archive: the recorded Iowa days' values replayed over the asked dates."""
    payload = json.loads((FIXTURES / "openmeteo_archive_iowa_central.json").read_text())
    start = date.fromisoformat(request.args["start_date"])
    end = date.fromisoformat(request.args["end_date"])
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    recorded = payload["daily"]
    n = len(recorded["time"])
    daily = {"time": [d.isoformat() for d in days]} | {
        name: [values[i % n] for i in range(len(days))]
        for name, values in recorded.items()
        if name != "time"
    }
    return Response(json.dumps(payload | {"daily": daily}), content_type="application/json")


def serve(httpserver: HTTPServer, *, fred_status: int = 200) -> None:
    httpserver.clear()
    if fred_status == 200:
        httpserver.expect_request(FRED_PATH).respond_with_handler(fred_replay)
    else:
        httpserver.expect_request(FRED_PATH).respond_with_data("Internal Server Error", fred_status)
    httpserver.expect_request(ARCHIVE_PATH).respond_with_handler(archive_replay)


def requests_to(httpserver: HTTPServer, path: str) -> list[dict[str, str]]:
    return [dict(request.args) for request, _ in httpserver.log if request.path == path]


# --- the workflow ------------------------------------------------------------------


def live_config(workdir: Path, httpserver: HTTPServer, end: str) -> None:
    """The overlay every run here uses: three live sources, a week of January 2024."""
    overlay = {
        "source": "live",
        "experiment": "live",
        "sources": {
            "use": ["fred", "weather", "synthetic"],
            "start_date": "2024-01-01",
            "end_date": end,
            "retry": {"max_tries": 2, "base_delay_s": 0.01},
            "fred": {
                "series": ["DGS10"],
                "lead_days": 0,
                "lookback_days": 0,
                "base_url": httpserver.url_for(FRED_PATH),
            },
            "weather": {
                "locations": [
                    {
                        "name": "iowa_central",
                        "region": "iowa",
                        "latitude": 42.03,
                        "longitude": -93.47,
                    }
                ],
                "lead_days": 0,
                "lookback_days": 0,
                "base_url": httpserver.url_for(ARCHIVE_PATH),
            },
            "synthetic": {"symbols": 1, "years": 1, "seed": 3},
        },
    }
    (workdir / "live.yaml").write_text(yaml.safe_dump(overlay))


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return env | extra


def snakemake(
    workdir: Path, *args: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [SNAKEMAKE, *args, "--configfile", "live.yaml"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def planned_jobs(workdir: Path, *targets: str, env: dict[str, str]) -> set[tuple[str, str]]:
    """(rule, first output) of every job a dry-run would execute."""
    jobs, rule = set(), None
    for line in snakemake(workdir, "-n", *targets, env=env).stdout.splitlines():
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
        elif rule and line.startswith("    output: "):
            jobs.add((rule, line.removeprefix("    output: ").split(", ")[0]))
            rule = None
        elif rule and not line.startswith("    "):
            jobs.add((rule, ""))
            rule = None
    return jobs


def table(workdir: Path, name: str) -> pd.DataFrame:
    """A candidate market_data table's rows in a canonical order (empty if it does not
    exist): ingest writes the candidate, which is published once audited."""
    path = workdir / RESULTS / "warehouse.duckdb"
    with DuckDBWarehouse(path, {"market_data": CANDIDATE["market_data"]}) as wh:
        names = wh.query_native(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $s",
            {"s": CANDIDATE["market_data"]},
        ).column("table_name")
        if name not in names.to_pylist():
            return pd.DataFrame()
        frame = wh.query_arrow(f"SELECT * FROM ${{market_data}}.{name}").to_pandas()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def ingest_log(workdir: Path, source: str) -> pd.DataFrame:
    log = table(workdir, "ingest_log")
    log = log[log["source"] == source].sort_values("ingested_at")
    return log.reset_index(drop=True)


def marker(workdir: Path, unit: str) -> dict[str, Any]:
    return json.loads((workdir / RESULTS / "ingest" / f"{unit}.json").read_text())


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def assert_no_key_anywhere(workdir: Path, *outputs: str) -> None:
    for text in outputs:
        assert KEY not in text
    for folder in (workdir / "results", workdir / ".snakemake"):
        for path in folder.rglob("*"):
            if path.is_file():
                assert KEY.encode() not in path.read_bytes(), path


@pytest.fixture
def workdir(tmp_path: Path, httpserver: HTTPServer) -> Iterator[Path]:
    """A workflow copy whose live sources have ingested 2024-01-01..2024-01-05."""
    folder = copy_workflow(tmp_path)
    serve(httpserver)
    live_config(folder, httpserver, "2024-01-05")
    snakemake(folder, "ingest", env=environment(FRED_API_KEY=KEY))
    yield folder


# --- tests -------------------------------------------------------------------------


def test_ingest_is_incremental_and_idempotent(workdir: Path, httpserver: HTTPServer) -> None:
    env = environment(FRED_API_KEY=KEY)
    fred = marker(workdir, "fred/DGS10")
    assert fred["fetched"] == {"start": "2024-01-01", "end": "2024-01-05"}
    assert (fred["rows"], fred["inserted"], fred["table_rows"]) == (5, 5, 5)  # 01-01 is NaN
    weather = marker(workdir, "weather/iowa_central")
    assert (weather["rows"], weather["inserted"]) == (5, 5)
    synthetic = marker(workdir, "synthetic/futures")
    assert (synthetic["rows"], synthetic["inserted"]) == (5, 5)  # Mon 1 .. Fri 5 January
    for unit in ("fred/DGS10", "weather/iowa_central", "synthetic/futures"):
        snapshot = Path(marker(workdir, unit)["snapshot"])
        assert snapshot.name.endswith("_20240101_20240105.parquet")
        assert (workdir / snapshot).exists()
    assert len(table(workdir, "raw_fred")) == 5 and len(table(workdir, "raw_weather")) == 5
    log = table(workdir, "ingest_log")
    assert sorted(log["source"]) == ["fred:DGS10", "openmeteo:iowa_central", "synthetic"]
    assert set(log["range_end"].dt.date) == {date(2024, 1, 5)}

    # Same range and settings: nothing to do, nothing fetched.
    assert "Nothing to be done" in snakemake(workdir, "-n", "ingest", env=env).stdout
    fetches = len(httpserver.log)

    # A week later: only the ingest jobs rerun, and each fetches only what is missing.
    live_config(workdir, httpserver, "2024-01-12")
    assert planned_jobs(workdir, "ingest", env=env) == INGEST_JOBS
    snakemake(workdir, "ingest", env=env)
    fred_calls = requests_to(httpserver, FRED_PATH)[1:]
    assert [(c["observation_start"], c["observation_end"]) for c in fred_calls] == [
        ("2024-01-05", "2024-01-12")  # DGS10's release lag (1 day) is fetched again
    ]
    weather_calls = requests_to(httpserver, ARCHIVE_PATH)[1:]
    assert [(c["start_date"], c["end_date"]) for c in weather_calls] == [
        ("2024-01-06", "2024-01-12")
    ]
    assert len(httpserver.log) == fetches + 2
    fred = marker(workdir, "fred/DGS10")
    assert fred["fetched"] == {"start": "2024-01-05", "end": "2024-01-12"}
    # 2024-01-05 again: same value, a new source_file (this fetch's JSON), so "updated".
    assert (fred["inserted"], fred["updated"], fred["table_rows"]) == (5, 1, 10)
    assert marker(workdir, "synthetic/futures")["fetched"]["start"] == "2024-01-06"
    assert len(table(workdir, "raw_weather")) == 12
    assert ingest_log(workdir, "fred:DGS10")["inserted"].tolist() == [5, 5]
    assert ingest_log(workdir, "synthetic")["table_rows"].tolist() == [5, 10]
    snapshots = sorted(p.name for p in (workdir / RESULTS / "raw" / "ingest" / "fred").iterdir())
    assert snapshots == [
        "fred_DGS10_20240101_20240105.json",
        "fred_DGS10_20240101_20240105.parquet",
        "fred_DGS10_20240105_20240112.json",
        "fred_DGS10_20240105_20240112.parquet",
    ]
    assert "Nothing to be done" in snakemake(workdir, "-n", "ingest", env=env).stdout
    assert_no_key_anywhere(workdir)


def test_staging_reads_the_ingested_tables(workdir: Path) -> None:
    env = environment(FRED_API_KEY=KEY)
    targets = [
        str(RESULTS / "warehouse" / "staging" / f"{name}.json")
        for name in ("macro_releases", "weather_daily")
    ]
    plan = planned_jobs(workdir, *targets, env=env)
    assert ("ingested_table", "results/live/warehouse/market_data/raw_fred.json") in plan
    assert ("ingested_table", "results/live/warehouse/market_data/raw_weather.json") in plan
    loaded = {output for rule, output in plan if rule == "load_raw"}
    assert loaded == {"results/live/warehouse/market_data/raw_cot.json"}  # no live source
    assert not any(rule.startswith("ingest_") for rule, _ in plan)  # already up to date

    snakemake(workdir, *targets, env=env)
    raw_fred = json.loads((workdir / RESULTS / "warehouse/market_data/raw_fred.json").read_text())
    assert raw_fred["rows"] == 5 and raw_fred["ingests"][0]["source"] == "fred:DGS10"
    path = workdir / RESULTS / "warehouse.duckdb"
    with DuckDBWarehouse(path, {"staging": CANDIDATE["staging"]}) as wh:
        macro = wh.query_arrow(
            "SELECT obs_date, available_date, value FROM ${staging}.macro_releases "
            "WHERE series_id = 'DGS10' ORDER BY obs_date"
        ).to_pandas()
        stations = wh.query_arrow(
            "SELECT DISTINCT station_id FROM ${staging}.weather_daily"
        ).to_pandas()
    assert len(macro) == 4 and macro["value"].iloc[-1] == 4.05  # DGS10 on 2024-01-05
    lag = pd.to_datetime(macro["available_date"]) - pd.to_datetime(macro["obs_date"])
    assert (lag == pd.Timedelta(days=1)).all()
    assert "iowa_central" in set(stations["station_id"])
    assert "Nothing to be done" in snakemake(workdir, "-n", *targets, env=env).stdout


def test_a_failed_fetch_leaves_snapshots_and_tables_intact(
    workdir: Path, httpserver: HTTPServer
) -> None:
    env = environment(FRED_API_KEY=KEY)
    snapshots = workdir / RESULTS / "raw" / "ingest" / "fred"
    before = files(snapshots), table(workdir, "raw_fred"), ingest_log(workdir, "fred:DGS10")

    serve(httpserver, fred_status=500)
    live_config(workdir, httpserver, "2024-01-12")
    failed = snakemake(workdir, "ingest", env=env, check=False)

    assert failed.returncode != 0
    error = (workdir / RESULTS / "logs" / "ingest" / "fred" / "DGS10.log").read_text()
    assert "FRED: HTTP 500 INTERNAL SERVER ERROR after 2 tries" in error
    assert "api_key=***" in error
    assert "FRED: HTTP 500" in failed.stdout + failed.stderr
    assert len(requests_to(httpserver, FRED_PATH)) == 2  # tried twice, as configured
    assert files(snapshots) == before[0]
    pd.testing.assert_frame_equal(table(workdir, "raw_fred"), before[1])
    pd.testing.assert_frame_equal(ingest_log(workdir, "fred:DGS10"), before[2])
    assert not (workdir / RESULTS / "ingest" / "fred" / "DGS10.json").exists()
    assert_no_key_anywhere(workdir, failed.stdout, failed.stderr)

    # Back up: the rerun fetches what the failed run could not.
    serve(httpserver)
    snakemake(workdir, "ingest", env=env)
    assert marker(workdir, "fred/DGS10")["fetched"] == {"start": "2024-01-05", "end": "2024-01-12"}
    assert len(table(workdir, "raw_fred")) == 10


def test_a_missing_key_fails_the_job_naming_the_variable(
    workdir: Path, httpserver: HTTPServer
) -> None:
    live_config(workdir, httpserver, "2024-01-12")
    result = snakemake(workdir, "ingest", env=environment(), check=False)
    assert result.returncode != 0
    assert "environment variable FRED_API_KEY is not set" in result.stdout + result.stderr


def test_switching_back_to_the_sample_never_replaces_ingested_rows(workdir: Path) -> None:
    before = table(workdir, "raw_fred")
    overlay = yaml.safe_load((workdir / "live.yaml").read_text()) | {"source": "sample"}
    (workdir / "live.yaml").write_text(yaml.safe_dump(overlay))
    target = str(RESULTS / "warehouse" / "market_data" / "raw_fred.json")
    result = snakemake(workdir, target, env=environment(), check=False)
    assert result.returncode != 0
    assert "holds rows ingested from live sources (fred:DGS10)" in result.stdout + result.stderr
    pd.testing.assert_frame_equal(table(workdir, "raw_fred"), before)


def test_live_sources_never_merge_into_a_sample_loaded_table(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    workdir = copy_workflow(tmp_path)
    serve(httpserver)
    live_config(workdir, httpserver, "2024-01-05")
    live = yaml.safe_load((workdir / "live.yaml").read_text())
    (workdir / "live.yaml").write_text(yaml.safe_dump(live | {"source": "sample"}))
    snakemake(workdir, str(RESULTS / "warehouse/market_data/raw_fred.json"), env=environment())
    before = table(workdir, "raw_fred")

    (workdir / "live.yaml").write_text(yaml.safe_dump(live))
    result = snakemake(workdir, "ingest", env=environment(FRED_API_KEY=KEY), check=False)
    assert result.returncode != 0
    assert "holds rows loaded from the bundled sample" in result.stdout + result.stderr
    assert requests_to(httpserver, FRED_PATH) == []
    pd.testing.assert_frame_equal(table(workdir, "raw_fred"), before)


def test_databento_job_logs_the_cost_and_keeps_the_dbn(tmp_path: Path) -> None:
    """The real databento client in a job, against a local TLS server (the client only
    takes https gateways) replaying the recorded ES daily bar of 2020-12-28."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/v0/metadata.get_cost", method="POST").respond_with_json(0.0123)
    dbn = (FIXTURES / "databento_glbx_ohlcv-1d.dbn.zst").read_bytes()
    server.expect_request("/v0/timeseries.get_range", method="POST").respond_with_data(
        dbn, content_type="application/octet-stream"
    )
    server.start()
    try:
        workdir = copy_workflow(tmp_path / "workflow")
        overlay = {
            "source": "live",
            "experiment": "live",
            "sources": {
                "use": ["databento"],
                "start_date": "2020-12-28",
                "end_date": "2020-12-28",
                "databento": {
                    "symbols": ["ES.c.0"],
                    "delay_days": 0,
                    "gateway": f"https://127.0.0.1:{server.port}",
                },
            },
        }
        (workdir / "live.yaml").write_text(yaml.safe_dump(overlay))
        env = environment(DATABENTO_API_KEY=DATABENTO_KEY, REQUESTS_CA_BUNDLE=str(bundle))
        result = snakemake(workdir, "ingest", env=env)
    finally:
        server.clear()
        server.stop()

    done = marker(workdir, "databento/ES")
    assert done["fetched"] == {"start": "2020-12-28", "end": "2020-12-28"}
    assert (done["rows"], done["inserted"]) == (1, 1)
    raw = workdir / RESULTS / "raw" / "ingest" / "databento"
    assert (raw / "databento_ES_20201228_20201228.dbn.zst").read_bytes() == dbn
    log = (workdir / RESULTS / "logs" / "ingest" / "databento" / "ES.log").read_text()
    assert "Databento cost estimate for GLBX.MDP3 ohlcv-1d ES.c.0" in log
    assert log.index("USD 0.0123") < log.index("saved")
    bars = table(workdir, "raw_futures_daily")
    # The recorded stream maps its bar to the raw symbol it was requested as (ESH1).
    assert bars[["symbol", "source", "close"]].values.tolist() == [["ESH1", "databento", 3735.0]]
    for text in (result.stdout, result.stderr):
        assert DATABENTO_KEY not in text
    for path in (workdir / "results").rglob("*"):
        assert not path.is_file() or DATABENTO_KEY.encode() not in path.read_bytes(), path


def test_live_dry_run_needs_no_keys_and_no_network(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "live.yaml").write_text(yaml.safe_dump({"source": "live", "experiment": "live"}))
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    attempts = tmp_path / "network.log"
    env = environment(
        PYTHONPATH=os.pathsep.join(filter(None, [str(guard), os.environ.get("PYTHONPATH")])),
        ZLFLOW_NETWORK_LOG=str(attempts),
    )
    probe = "import socket; socket.create_connection(('127.0.0.1', 9))"
    subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, check=False)
    assert "127.0.0.1" in attempts.read_text(), "the network guard is not active"
    attempts.unlink()

    dry = snakemake(workdir, "-n", env=env).stdout
    for rule in ("ingest_databento", "ingest_fred", "ingest_weather", "ingested_table"):
        assert f"rule {rule}:" in dry, rule
    assert "results/live/ingest/databento/ZL.json" in dry
    assert "digraph" in snakemake(workdir, "--rulegraph", env=env).stdout
    assert not attempts.exists(), attempts.read_text()
    assert not (workdir / "results").exists()
