"""Feature SQL on the embedded warehouse vs the pandas reference, on synthetic futures.

    .venv/bin/python bench/features_sql.py [--rows 1000000 10000000] [--repeats 3]

For each size, 500 synthetic symbols (``zlflow.sources.synthetic``) on the CBOT calendar
are loaded into a fresh DuckDB file with the raw table layout, with the calendar and a
roll calendar for every symbol, and ``staging.futures_daily`` is deployed (prepared once
and cached under ``--scratch``). Then, each in its own child process so that its peak
RSS is its own, ``--repeats`` times:

- sql: deploy the ``features.ema`` view and the ``features.technical_daily`` table (the 23
  technical columns; ``macd_hist`` is their difference in ``zl_daily_v1``) on a fresh
  copy of the prepared file, through the same sqlglot transpilation as the workflow;
- pandas: ``tests/reference_features.technical_features`` (24 columns) on the same
  staging rows read from Parquet.

The rows report median seconds, each run's CPU seconds (user + system, all threads), the
largest peak RSS, and the SQL/pandas ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

from common import ROOT, emit, load_average, median, python_worker

N_SYMBOLS = 500
SQL_FEATURES = ("features.ema", "features.technical_daily")
CHECK_COLUMNS = ("rsi_14", "ema_ratio_200", "macd_signal", "rv_63", "dist_52w_high")
WARMUP = 252


def prepare(rows: int, folder: Path) -> tuple[Path, Path, dict[str, float]]:
    """The prepared DuckDB file (raw, reference, staging) and staging as Parquet."""
    import yaml

    from zlflow.calendar import trading_days
    from zlflow.loading import load_frame
    from zlflow.objects import sql_objects
    from zlflow.reference import build_reference_table, config_subset
    from zlflow.sources.synthetic import ZL_CONTRACT_MONTHS, synthetic_futures
    from zlflow.warehouse.duckdb import DuckDBWarehouse

    database, staging = folder / "warehouse.duckdb", folder / "staging.parquet"
    timings_file = folder / "prepare.json"
    if database.exists() and staging.exists() and timings_file.exists():
        return database, staging, json.loads(timings_file.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    days = rows // N_SYMBOLS
    sessions = trading_days(config["calendar"]["exchange"], "1940-01-01", "2026-12-31")[-days:]
    first = sessions[0].date() - timedelta(weeks=2)
    config["calendar"] = config["calendar"] | {"start": str(first)}
    names = [f"SYN{i:03d}" for i in range(N_SYMBOLS)]
    config["rolls"] = {
        name: {"contract_months": list(ZL_CONTRACT_MONTHS), "days_before_first_notice": 5}
        for name in names
    }
    timings = {}
    started = time.perf_counter()
    bars = synthetic_futures(N_SYMBOLS, 0, seed=0, symbols=names, sessions=sessions)
    timings["generate_s"] = time.perf_counter() - started
    with DuckDBWarehouse(database, config["datasets"]) as wh:
        started = time.perf_counter()
        load_frame(wh, "market_data", "raw_futures_daily", bars, folder / "raw.parquet")
        del bars
        for table in ("cbot_calendar", "roll_calendar"):
            frame = build_reference_table(table, config_subset(config, table))
            load_frame(wh, "market_data", table, frame, folder / f"{table}.parquet")
        timings["load_s"] = time.perf_counter() - started
        started = time.perf_counter()
        info = wh.deploy(sql_objects(ROOT / "sql", config["horizons"])["staging.futures_daily"])
        timings["staging_sql_s"] = time.perf_counter() - started
        if info.rows != days * N_SYMBOLS:
            raise RuntimeError(f"staging has {info.rows} rows, expected {days * N_SYMBOLS}")
        wh.con.execute(
            f"COPY (SELECT * FROM {wh.table('staging', 'futures_daily')} "
            "ORDER BY symbol, trade_date) TO $path (FORMAT parquet)",
            {"path": str(staging)},
        )
    for leftover in folder.glob("*.parquet"):
        if leftover != staging:
            leftover.unlink()
    timings_file.write_text(json.dumps(timings))
    return database, staging, timings


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, all its threads together."""
    times = os.times()
    return times.user + times.system


def worker_sql(database: Path, threads: int) -> dict:
    import yaml

    from zlflow.objects import sql_objects
    from zlflow.warehouse.duckdb import DuckDBWarehouse

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    objects = sql_objects(ROOT / "sql", config["horizons"])
    seconds = {}
    # threads=1 is what workflow jobs use (bit-identical rebuilds); 0 is DuckDB's default.
    options = {"threads": threads} if threads else {}
    with DuckDBWarehouse(database, config["datasets"], **options) as wh:
        started, cpu = time.perf_counter(), _cpu_seconds()
        for key in SQL_FEATURES:
            step = time.perf_counter()
            wh.deploy(objects[key])
            seconds[key] = round(time.perf_counter() - step, 3)
        total, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        means = wh.con.execute(
            "SELECT "
            + ", ".join(f"AVG({c})" for c in CHECK_COLUMNS)
            + f" FROM {wh.table('features', 'technical_daily')} WHERE session_number >= {WARMUP}"
        ).fetchall()[0]
        rows = wh.table_info("features", "technical_daily").rows
    return {
        "seconds": total,
        "cpu_s": cpu,
        "steps": seconds,
        "rows": rows,
        "check": dict(zip(CHECK_COLUMNS, means, strict=True)),
    }


def worker_pandas(staging: Path) -> dict:
    import pandas as pd

    sys.path.insert(0, str(ROOT / "tests"))
    from reference_features import technical_features

    futures = pd.read_parquet(staging)
    started, cpu = time.perf_counter(), _cpu_seconds()
    features = technical_features(futures)
    total, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    past_warmup = features.groupby("symbol").cumcount() >= WARMUP
    means = features.loc[past_warmup, list(CHECK_COLUMNS)].mean()
    return {
        "seconds": total,
        "cpu_s": cpu,
        "rows": len(features),
        "columns": len(features.columns) - 2,
        "check": {c: float(means[c]) for c in CHECK_COLUMNS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/zlflow-bench-features"))
    parser.add_argument(
        "--duckdb-threads", type=int, default=0, help="0: DuckDB's default (one per core)"
    )
    parser.add_argument("--worker", choices=["sql", "pandas"])
    parser.add_argument("--path", type=Path)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "sql":
            result = worker_sql(args.path, args.duckdb_threads)
        else:
            result = worker_pandas(args.path)
        print(json.dumps(result))
        return

    script = Path(__file__).resolve()
    for rows in args.rows:
        folder = args.scratch / f"rows_{rows}"
        database, staging, timings = prepare(rows, folder)
        sql_runs, pandas_runs, load = [], [], load_average()
        for _ in range(args.repeats):
            copy = folder / "run.duckdb"
            shutil.copy2(database, copy)
            run, payload = python_worker(
                script,
                "--worker",
                "sql",
                "--path",
                str(copy),
                "--duckdb-threads",
                str(args.duckdb_threads),
            )
            sql_runs.append((run, payload))
            copy.unlink()
            Path(str(copy) + ".lock").unlink(missing_ok=True)
            Path(str(copy) + ".wal").unlink(missing_ok=True)
            run, payload = python_worker(script, "--worker", "pandas", "--path", str(staging))
            pandas_runs.append((run, payload))
        sql_s = median([p["seconds"] for _, p in sql_runs])
        pandas_s = median([p["seconds"] for _, p in pandas_runs])
        sql_rss = max(r.peak_rss_mb for r, _ in sql_runs)
        pandas_rss = max(r.peak_rss_mb for r, _ in pandas_runs)
        sql_check, pandas_check = sql_runs[-1][1]["check"], pandas_runs[-1][1]["check"]
        emit(
            "features_sql",
            {
                "rows": rows,
                "symbols": N_SYMBOLS,
                "duckdb_threads": args.duckdb_threads or "default",
                "repeats": args.repeats,
                "load_average_at_start": load,
                "sql_runs_s": [round(p["seconds"], 2) for _, p in sql_runs],
                "pandas_runs_s": [round(p["seconds"], 2) for _, p in pandas_runs],
                "sql_median_s": round(sql_s, 2),
                "pandas_median_s": round(pandas_s, 2),
                "sql_cpu_s": [round(p["cpu_s"], 2) for _, p in sql_runs],
                "pandas_cpu_s": [round(p["cpu_s"], 2) for _, p in pandas_runs],
                "sql_over_pandas_time": round(sql_s / pandas_s, 2),
                "sql_peak_rss_mb": round(sql_rss),
                "pandas_peak_rss_mb": round(pandas_rss),
                "sql_over_pandas_rss": round(sql_rss / pandas_rss, 2),
                "sql_steps_s": sql_runs[-1][1]["steps"],
                "staging_sql_s": round(timings["staging_sql_s"], 2),
                "sql_rows": sql_runs[-1][1]["rows"],
                "pandas_rows": pandas_runs[-1][1]["rows"],
                "max_rel_diff_of_column_means": max(
                    abs(sql_check[c] - pandas_check[c]) / abs(pandas_check[c])
                    for c in CHECK_COLUMNS
                ),
            },
        )


if __name__ == "__main__":
    main()
