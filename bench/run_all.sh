#!/usr/bin/env bash
# Every benchmark in turn (about two hours on 2 cores, 45 minutes of it the test suite's two
# runs); each prints JSON rows and appends them to bench/results/<name>.jsonl. BENCHMARKS.md
# says what each measures and holds the table.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
echo "load average: $(uptime)"
$PY bench/workflow.py --cold-runs 3 --busy-runs 1 --background 2
$PY bench/threads.py
$PY bench/explain_shap.py
$PY bench/lgbm_optuna.py
$PY bench/features_sql.py
[[ -x bench/.venv-ptf/bin/python ]] || bench/setup_ptf.sh
$PY bench/tft_vs_ptf.py
$PY bench/suite.py --quiet-runs 1 --busy-runs 1 --background 2
