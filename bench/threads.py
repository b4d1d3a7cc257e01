"""Threads on a busy machine: OpenMP threads inside one model against one thread per task.

    .venv/bin/python bench/threads.py [--background 2] [--repeats 2]

Two workloads of the shape the workflow runs, each timed quiet and then beside
``--background`` CPU-bound busy loops (started and stopped here):
- LightGBM: 8 boosters x 300 rounds on 4,500 rows x 90 features (one tune trial), either
  one at a time on 2 OpenMP threads (before 1237742) or two at a time on one thread each
  (``LightGBMForecaster`` now);
- PyTorch: 30 forward and backward passes of a small LSTM on 2 threads with OpenMP's
  default (spinning) wait, with ``OMP_WAIT_POLICY=PASSIVE`` (what jobs now set), and on 1
  thread. The wait policy is read when the OpenMP runtime loads, so each variant is a
  child process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import background_load, emit, load_average

QUANTILES = (0.025, 0.05, 0.1, 0.3, 0.5, 0.9, 0.95, 0.975)

LSTM = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
lstm = torch.nn.LSTM(32, 32, batch_first=True)
x = torch.randn(128, 63, 32)
started = time.perf_counter()
for _ in range(30):
    out, _ = lstm(x)
    out.sum().backward()
print(time.perf_counter() - started)
"""


def lightgbm_seconds(side_by_side: bool) -> float:
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    from zlflow.models.lgbm import LightGBMForecaster

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(4500, 90)), columns=[f"f{i}" for i in range(90)])
    y = X["f0"] * 0.01 + rng.normal(scale=0.05, size=len(X))
    defaults = LightGBMForecaster.default_params()
    rounds = defaults.pop("num_boost_round")
    params = defaults | {
        "deterministic": True,
        "force_row_wise": True,
        "seed": 1,
        "verbosity": -1,
        "objective": "quantile",
    }

    def train(q: float, threads: int) -> None:
        lgb.train(
            params | {"alpha": q, "num_threads": threads},
            lgb.Dataset(X, label=y),
            num_boost_round=rounds,
        )

    started = time.perf_counter()
    if side_by_side:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda q: train(q, 1), QUANTILES))
    else:
        for q in QUANTILES:
            train(q, 2)
    return time.perf_counter() - started


def lstm_seconds(threads: int, wait_policy: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    out = subprocess.run(
        [sys.executable, "-c", LSTM, str(threads)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


CASES = {
    "lightgbm_2_openmp_threads": lambda: lightgbm_seconds(side_by_side=False),
    "lightgbm_2_boosters_1_thread_each": lambda: lightgbm_seconds(side_by_side=True),
    "lstm_2_threads_default_wait": lambda: lstm_seconds(2, None),
    "lstm_2_threads_passive_wait": lambda: lstm_seconds(2, "PASSIVE"),
    "lstm_1_thread": lambda: lstm_seconds(1, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--background", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for background in (0, args.background):
        with background_load(background):
            load = load_average()
            for name, case in CASES.items():
                runs = [round(case(), 2) for _ in range(args.repeats)]
                print(f"{name}, {background} busy loops: {runs} s", flush=True)
                emit(
                    "threads",
                    {
                        "case": name,
                        "background_processes": background,
                        "runs": runs,
                        "load_before": load,
                    },
                )


if __name__ == "__main__":
    main()
