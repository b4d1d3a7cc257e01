"""Shared helpers for the benchmarks: timed child processes, machine facts, result rows.

Every measurement runs in its own child process so its peak resident memory is its own:
``os.wait4`` returns the child's ``ru_maxrss`` (the largest single process among the
child and the descendants it waited for, which for Snakemake is the largest job).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
WORKFLOW = ("Snakefile", "rules", "scripts", "sql", "config", "profiles", "report", "envs")
RESULTS_DIR = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Run:
    """One child process: wall seconds, peak RSS in MiB, exit code and its output."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_measured(
    argv: Sequence[str],
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> Run:
    """Run ``argv`` to completion; wall time and the child's own peak RSS."""
    started = time.perf_counter()
    with (
        open(os.devnull, "rb") as stdin,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=stdin,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    run = Run(seconds, usage.ru_maxrss / 1024, proc.returncode, stdout, stderr)
    if check and run.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))} exited {run.returncode}:\n{stdout[-3000:]}\n"
            f"{stderr[-3000:]}"
        )
    return run


def python_worker(script: str | Path, *args: str, check: bool = True) -> tuple[Run, dict]:
    """Run ``python script args`` as a child; its last stdout line is a JSON dict."""
    run = run_measured([sys.executable, str(script), *args], cwd=ROOT, check=check)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    payload = json.loads(lines[-1]) if lines else {}
    return run, payload


BUSY_LOOP = "while True:\n    pass\n"


@contextmanager
def background_load(processes: int) -> Iterator[None]:
    """``processes`` CPU-bound busy loops (one core each) for the length of the block:
    a reproducible stand-in for other work on a shared machine, always stopped after."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(processes)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def load_average() -> str:
    """The 1/5/15-minute load averages, as `uptime` shows them."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": load_average(),
    }


def copy_workflow(target: Path) -> Path:
    """A private copy of the workflow (results go there, never into the repository)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(source, target / name)
    shutil.copytree(ROOT / "data", target / "data")
    return target


def emit(name: str, row: Mapping[str, Any]) -> None:
    """Print one result row as JSON and keep it in bench/results/<name>.jsonl."""
    record = {"benchmark": name, **machine(), **row}
    line = json.dumps(record, default=str)
    print(line, flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with (RESULTS_DIR / f"{name}.jsonl").open("a") as handle:
        handle.write(line + "\n")


DATA_DIR = RESULTS_DIR / "data"


def ensure_export() -> tuple[Path, Path]:
    """The real-sample export and its default fold table, built once into bench/results/data.

    Runs `snakemake` up to the fold-table checkpoint in a temporary copy of the workflow
    (about two minutes); later benchmarks reuse the files.
    """
    parquet, folds = DATA_DIR / "zl_1m_v1.parquet", DATA_DIR / "fold_table.csv"
    if parquet.exists() and folds.exists():
        return parquet, folds
    with tempfile.TemporaryDirectory(prefix="zlflow-bench-export-") as scratch:
        workdir = copy_workflow(Path(scratch) / "workflow")
        table = "results/default/folds/1m/fold_table.csv"
        run_measured([SNAKEMAKE, table], cwd=workdir)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy2(workdir / "results/default/export/zl_1m_v1.parquet", parquet)
        shutil.copy2(workdir / table, folds)
    return parquet, folds


def dated_features(rows: Any, features: Sequence[str]) -> Any:
    """Feature columns indexed by trade date, as the workflow passes them to a model
    (the TFT reads day of week and month from the index)."""
    import pandas as pd

    index = pd.DatetimeIndex(rows["trade_date"], name="trade_date")
    return rows[list(features)].set_axis(index, axis=0)
