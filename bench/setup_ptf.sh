#!/usr/bin/env bash
# The separate venv for the pytorch-forecasting comparison (bench/tft_vs_ptf.py), never in
# the project's dependencies: pytorch-forecasting pins pandas<3.1 and pulls in lightning.
# torch==2.13.0 goes first (the CPU build on this machine's disk); unpinned, pip would
# resolve a multi-GB CUDA build for pytorch-forecasting's torch requirement.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=.venv-ptf
if [[ ! -x $VENV/bin/python ]]; then
    "$PYTHON" -m venv "$VENV"
fi
$VENV/bin/python -m pip install --quiet --upgrade pip
$VENV/bin/python -m pip install --quiet torch==2.13.0
$VENV/bin/python -m pip install --quiet torch==2.13.0 pytorch-forecasting==1.8.0 pyarrow
$VENV/bin/python -c "import pytorch_forecasting, torch; print(pytorch_forecasting.__version__, torch.__version__)"
