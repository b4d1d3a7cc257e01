"""The morning run: live ingest -> warehouse -> forecasts -> publish for today, once.

Runs Snakemake's default target with ``source=live`` in the ``live`` experiment, appending
its output to ``results/live/logs/daily/<date>.log``, under a lock so that a run started while the
previous one is still going (a slow morning, a manual run beside the scheduled one) does
not start at all. The run date is the machine's today: the live sources fetch up to it
(``sources.end_date: today``, less each source's delay) and the alerts are judged on it.
A second run the same day finds every job's range and inputs unchanged and does nothing.

    .venv/bin/python deploy/daily.py                  # what `make daily` and the schedules run
    .venv/bin/python deploy/daily.py -- -n            # extra arguments go to Snakemake
    ZLFLOW_DAILY_CONFIGFILE="config/bigquery.yaml my-alerts.yaml" .venv/bin/python deploy/daily.py

Exit status: Snakemake's, or 75 (EX_TEMPFAIL) when another run holds the lock.
Portable to macOS (launchd) and Linux (cron, systemd): the lock is ``filelock``'s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from filelock import FileLock, Timeout

ROOT = Path(__file__).resolve().parents[1]
LOCKED = 75  # EX_TEMPFAIL: try again later


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def command(extra: list[str]) -> list[str]:
    """The Snakemake command line of the morning run (plus the caller's arguments)."""
    snakemake = os.environ.get("ZLFLOW_SNAKEMAKE") or str(Path(sys.executable).parent / "snakemake")
    args = [snakemake, "--config", "source=live", "experiment=live"]
    if configfiles := os.environ.get("ZLFLOW_DAILY_CONFIGFILE", "").split():
        args += ["--configfile", *configfiles]
    return [*args, *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snakemake_args", nargs="*", help="passed on to Snakemake (after --)")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "results/live/logs/daily")
    parser.add_argument("--lock", type=Path, default=ROOT / "results/live/daily.lock")
    args = parser.parse_args(argv)

    args.log_dir.mkdir(parents=True, exist_ok=True)
    args.lock.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.log_dir / f"{date.today().isoformat()}.log"
    with log_path.open("a") as log:
        try:
            lock = FileLock(args.lock, timeout=0)
            lock.acquire()
        except Timeout:
            message = f"{stamp()} another daily run holds {args.lock}: not starting"
            print(message, file=log, flush=True)
            print(message, file=sys.stderr)
            return LOCKED
        try:
            cmd = command(args.snakemake_args)
            print(f"{stamp()} start: {' '.join(cmd)}", file=log, flush=True)
            result = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            print(f"{stamp()} exit {result.returncode}", file=log, flush=True)
        finally:
            lock.release()
    if result.returncode:
        print(
            f"zlflow daily run failed (exit {result.returncode}): see {log_path}", file=sys.stderr
        )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
