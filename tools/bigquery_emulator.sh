#!/usr/bin/env bash
# A local BigQuery emulator (local-bigquery) for the bigquery backend's tests.
#
#   tools/bigquery_emulator.sh setup                    create .venv-bqemu/ (idempotent)
#   tools/bigquery_emulator.sh start <data-dir> <port>  setup, serve on 127.0.0.1, print the PID
#   tools/bigquery_emulator.sh stop <pid>               stop an emulator started here
#
# The emulator needs Python >= 3.13, so it lives in its own venv. It runs DuckDB, which
# would download extensions at first use; they are installed from pinned PyPI wheels into
# a private HOME inside the venv instead, so it works offline and leaves ~/.duckdb alone.
# Nothing here talks to Google: the server listens on 127.0.0.1 only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BQEMU_VENV:-$ROOT/.venv-bqemu}"
EMU_HOME="$VENV/home"
STAMP="$VENV/.installed"
START_TIMEOUT_S="${BQEMU_START_TIMEOUT_S:-60}"
DUCKDB_VERSION=1.5.5
EXTENSIONS=(icu ducklake spatial)
PINS=(
    "local-bigquery==0.3.2"
    "duckdb==$DUCKDB_VERSION"
    "duckdb-extensions==$DUCKDB_VERSION"
)
for ext in "${EXTENSIONS[@]}"; do PINS+=("duckdb-extension-$ext==$DUCKDB_VERSION"); done

# Installs the extensions into $HOME/.duckdb and proves that they load offline.
IMPORT_EXTENSIONS='
import sys

import duckdb
from duckdb_extensions import import_extension

for name in sys.argv[1:]:
    import_extension(name)
    duckdb.sql(f"LOAD {name}")
'

die() {
    echo "bigquery_emulator: $*" >&2
    exit 1
}

usage() {
    die "usage: $0 setup | start <data-dir> <port> | stop <pid>"
}

find_python() {
    # BQEMU_PYTHON, then python3.13 on PATH, then the newest pyenv 3.13.x.
    local candidate
    for candidate in "${BQEMU_PYTHON:-}" "$(command -v python3.13 || true)" \
        $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 2>/dev/null | sort -V -r); do
        if [[ -n "$candidate" && -x "$candidate" ]] &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    die "python3.13 not found (the emulator needs Python >= 3.13): install it, e.g." \
        "'pyenv install 3.13', or set BQEMU_PYTHON=/path/to/python3.13"
}

installed() {
    [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(printf '%s\n' "${PINS[@]}")" ]] &&
        [[ -x "$VENV/bin/local-bigquery" ]]
}

setup() {
    installed && return 0
    mkdir -p "$VENV"
    # Two test sessions may set up at once: the second waits, then finds the stamp. The
    # lock is held in a subshell so that an emulator started afterwards cannot inherit it.
    (
        if command -v flock >/dev/null; then flock 9; fi
        installed && exit 0
        rm -f "$STAMP"
        python="$(find_python)"
        echo "bigquery_emulator: creating $VENV with $python" >&2
        "$python" -m venv "$VENV" || die "cannot create $VENV (remove it and retry)"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" ||
            die "pip could not install ${PINS[*]}"
        mkdir -p "$EMU_HOME"
        HOME="$EMU_HOME" "$VENV/bin/python" -c "$IMPORT_EXTENSIONS" "${EXTENSIONS[@]}" ||
            die "cannot install the DuckDB extensions ${EXTENSIONS[*]}"
        printf '%s\n' "${PINS[@]}" >"$STAMP.tmp"
        mv "$STAMP.tmp" "$STAMP"
        echo "bigquery_emulator: ready ($VENV)" >&2
    ) 9>"$VENV/.setup.lock"
}

free_port() {
    "$VENV/bin/python" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

port_in_use() {
    "$VENV/bin/python" -c '
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)' "$1"
}

answers() {
    "$VENV/bin/python" -c '
import sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/bigquery/v2/projects/local/datasets"
try:
    with urllib.request.urlopen(url, timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)' "$1"
}

start() {
    local data_dir="$1" port="$2" grpc_port pid log deadline
    [[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number, not '$port'"
    setup
    ! port_in_use "$port" || die "port $port on 127.0.0.1 is already in use"
    grpc_port="$(free_port)"
    mkdir -p "$data_dir"
    data_dir="$(cd "$data_dir" && pwd)"
    log="$data_dir/emulator.log"
    # --data-dir matters: the emulator's default is /data.
    HOME="$EMU_HOME" nohup "$VENV/bin/local-bigquery" serve --host 127.0.0.1 --port "$port" \
        --grpc-port "$grpc_port" --data-dir "$data_dir" >"$log" 2>&1 </dev/null &
    pid=$!
    deadline=$((SECONDS + START_TIMEOUT_S))
    until answers "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log" >&2 || true
            die "the emulator exited during start-up (log: $log)"
        fi
        if ((SECONDS >= deadline)); then
            kill "$pid" 2>/dev/null || true
            tail -n 20 "$log" >&2 || true
            die "the emulator did not answer on port $port within $START_TIMEOUT_S s (log: $log)"
        fi
        sleep 0.25
    done
    echo "bigquery_emulator: serving http://127.0.0.1:$port (gRPC $grpc_port), log $log" >&2
    echo "$pid"
}

stop() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] || die "pid must be a number, not '$pid'"
    kill -0 "$pid" 2>/dev/null || return 0
    # Never signal a process that is not an emulator (the PID may have been reused).
    ps -p "$pid" -o command= 2>/dev/null | grep -q "local-bigquery" ||
        die "process $pid is not a local-bigquery emulator; not stopping it"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
    setup) [[ $# -eq 1 ]] || usage && setup ;;
    start) [[ $# -eq 3 ]] || usage && start "$2" "$3" ;;
    stop) [[ $# -eq 2 ]] || usage && stop "$2" ;;
    *) usage ;;
esac
