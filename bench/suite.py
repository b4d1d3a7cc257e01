"""The test suite's wall time, quiet and beside busy loops (issue 19: ≤ 15 min on 2 quiet
cores, well under CI's 90-minute limit on a busy machine).

    .venv/bin/python bench/suite.py [--quiet-runs 1] [--busy-runs 0] [--background 2]

Each run is ``make test`` (what `.ci/run` calls: lint, then pytest with one worker per
core) in this checkout; run it in a fresh clone after ``make install bigquery-emulator``
so that the install is not timed. A busy run starts ``--background`` CPU-bound busy loops
before ``make test`` and stops them after. Rows: the whole ``make test`` and pytest's own
time (its "N passed in S s" line), appended to bench/results/suite.jsonl.
"""

from __future__ import annotations

import argparse
import re
import sys

from common import ROOT, background_load, emit, load_average, run_measured

SUMMARY = re.compile(r"=+ (?P<counts>.*?) in (?P<seconds>[\d.]+)s")


def one_run(background: int) -> dict[str, object]:
    with background_load(background):
        load_before = load_average()
        run = run_measured(["make", "test"], cwd=ROOT, check=False)
    summary = SUMMARY.findall(run.stdout)
    counts, seconds = summary[-1] if summary else ("(no pytest summary)", "nan")
    if run.returncode:
        print(run.stdout[-4000:], run.stderr[-4000:], sep="\n", file=sys.stderr)
    return {
        "background_processes": background,
        "make_test_s": round(run.seconds, 1),
        "pytest_s": float(seconds),
        "pytest": counts,
        "returncode": run.returncode,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet-runs", type=int, default=1)
    parser.add_argument("--busy-runs", type=int, default=0)
    parser.add_argument("--background", type=int, default=2, help="busy loops for busy runs")
    args = parser.parse_args()
    failed = 0
    for background, runs in ((0, args.quiet_runs), (args.background, args.busy_runs)):
        for _ in range(runs):
            row = one_run(background)
            emit("suite", row)
            failed |= row["returncode"] != 0
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
