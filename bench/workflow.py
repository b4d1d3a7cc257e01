"""Workflow benchmarks: a cold default run, a no-op rerun, and a dry-run of 1,000+ jobs.

    .venv/bin/python bench/workflow.py [--cold-runs 1] [--noop-runs 5] [--dag-runs 3]
                                       [--busy-runs 0] [--background 2]

Each cold run is a fresh copy of the workflow in a temporary folder (never the
repository's results/), run with plain `snakemake` (the default profile: 2 cores). The
no-op rerun is `snakemake` again in the finished copy, next to the bare start-up of
Snakemake on a one-rule Snakefile whose output exists. A busy cold run is the same with
``--background`` CPU-bound busy loops started before it and stopped after (issue 19: at
most 2.5x the quiet time with two of them on 2 cores). The large DAG overlays the
finished copy with five-session walk-forward folds from 2010 and both models, reruns the
fold-table checkpoint so the fold jobs are known, then times `snakemake -n`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path

from common import (
    SNAKEMAKE,
    Run,
    background_load,
    copy_workflow,
    emit,
    load_average,
    median,
    run_measured,
)

DAG_OVERLAY = """\
models: [lgbm, tft]
walk_forward:
  window: expanding
  first_test_start: "2010-01-04"
  test_sessions: 5
  step_sessions: 5
  min_train_sessions: 750
  train_sessions: null
  embargo_sessions: 0
  max_folds: null
"""

BARE_SNAKEFILE = """\
rule all:
    input:
        "done.txt",
"""


def planned_jobs(stdout: str) -> int:
    """The total of the dry-run's job stats table."""
    match = re.search(r"^total\s+(\d+)", stdout, flags=re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no job stats in the dry-run output:\n{stdout[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-runs", type=int, default=1)
    parser.add_argument("--noop-runs", type=int, default=5)
    parser.add_argument("--dag-runs", type=int, default=3)
    parser.add_argument("--busy-runs", type=int, default=0, help="cold runs beside busy loops")
    parser.add_argument("--background", type=int, default=2, help="busy loops for busy runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    parser.add_argument(
        "--finished", type=Path, help="a finished copy (kept by --keep): no cold run, no no-op"
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="zlflow-bench-workflow-"))
    try:
        if args.finished:
            dry_run_dag(args.finished, args.dag_runs)
            return
        cold = cold_runs(scratch, "cold", args.cold_runs)
        if cold:
            emit_cold("workflow_cold", cold, background=0)
        if args.busy_runs:
            with background_load(args.background):
                busy = cold_runs(scratch, "busy", args.busy_runs)
            emit_cold("workflow_cold_busy", busy, background=args.background)
        if not cold:
            return
        workdir = scratch / f"cold_{len(cold) - 1}"

        noop = [run_measured([SNAKEMAKE], cwd=workdir) for _ in range(args.noop_runs)]
        if "Nothing to be done" not in noop[-1].stdout + noop[-1].stderr:
            raise RuntimeError("the rerun after a full run was not a no-op")
        bare_dir = scratch / "bare"
        bare_dir.mkdir()
        (bare_dir / "Snakefile").write_text(BARE_SNAKEFILE)
        (bare_dir / "done.txt").write_text("done\n")
        bare = [
            run_measured([SNAKEMAKE, "--cores", "1"], cwd=bare_dir) for _ in range(args.noop_runs)
        ]
        version = [run_measured([SNAKEMAKE, "--version"]) for _ in range(args.noop_runs)]
        emit(
            "workflow_noop",
            {
                "noop_runs": [round(r.seconds, 2) for r in noop],
                "noop_median_s": round(median([r.seconds for r in noop]), 2),
                "noop_peak_rss_mb": round(max(r.peak_rss_mb for r in noop)),
                "bare_median_s": round(median([r.seconds for r in bare]), 2),
                "version_median_s": round(median([r.seconds for r in version]), 2),
                "overhead_vs_bare_s": round(
                    median([r.seconds for r in noop]) - median([r.seconds for r in bare]), 2
                ),
                "target_overhead_s": 2.0,
            },
        )

        if args.dag_runs > 0:
            dry_run_dag(workdir, args.dag_runs)
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def cold_runs(scratch: Path, name: str, runs: int) -> list[Run]:
    """Plain `snakemake` in fresh copies of the workflow; Snakemake's step count kept."""
    out = []
    for i in range(runs):
        workdir = copy_workflow(scratch / f"{name}_{i}")
        load = load_average()
        run = run_measured([SNAKEMAKE], cwd=workdir)
        out.append(run)
        print(f"{name} run {i}: {run.seconds:.1f} s, load before {load}", flush=True)
    return out


def emit_cold(name: str, runs: list[Run], background: int) -> None:
    jobs = re.search(r"(\d+) of (\d+) steps \(100%\) done", runs[-1].stderr)
    emit(
        name,
        {
            "runs": [round(r.seconds, 1) for r in runs],
            "median_s": round(median([r.seconds for r in runs]), 1),
            "peak_rss_mb": round(max(r.peak_rss_mb for r in runs)),
            "jobs": int(jobs.group(2)) if jobs else None,
            "background_processes": background,
            "target_s": 600 if background == 0 else None,
        },
    )


def dry_run_dag(workdir: Path, runs: int) -> None:
    """Many folds x both models over a finished run: rerun the checkpoint, time -n."""
    (workdir / "dag.yaml").write_text(DAG_OVERLAY)
    folds = run_measured(
        [SNAKEMAKE, "results/default/folds/1m/fold_table.csv", "--configfile", "dag.yaml"],
        cwd=workdir,
    )
    print(f"fold-table checkpoint rerun: {folds.seconds:.1f} s", flush=True)
    dry = [
        run_measured([SNAKEMAKE, "-n", "--configfile", "dag.yaml"], cwd=workdir)
        for _ in range(runs)
    ]
    n_jobs = planned_jobs(dry[-1].stdout)
    fit_jobs = len(re.findall(r"^rule fit_fold:$", dry[-1].stdout, flags=re.MULTILINE))
    emit(
        "workflow_dryrun_dag",
        {
            "jobs": n_jobs,
            "fit_fold_jobs": fit_jobs,
            "runs": [round(r.seconds, 2) for r in dry],
            "median_s": round(median([r.seconds for r in dry]), 2),
            "peak_rss_mb": round(max(r.peak_rss_mb for r in dry)),
        },
    )


if __name__ == "__main__":
    main()
