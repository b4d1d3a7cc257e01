"""Shared by the workflow tests: a private copy of the workflow and a network guard.

Each workflow test drives the real `snakemake` command line on its own copy, so tests
never share `results/` or `.snakemake/` and can edit rules, SQL or data freely.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
WORKFLOW = ("Snakefile", "rules", "scripts", "sql", "config", "profiles", "report", "envs")


def copy_workflow(target: Path) -> Path:
    """Copy the workflow files into ``target``; the bundled sample is linked, not copied."""
    target.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(source, target / name)
    (target / "data").mkdir()
    (target / "data" / "sample").symlink_to(ROOT / "data" / "sample")
    return target


# A sitecustomize.py for PYTHONPATH: any TCP/UDP connection or name lookup from Snakemake
# is recorded in $ZLFLOW_NETWORK_LOG, then refused.
NETWORK_GUARD = """
import os
import socket

_log = os.environ["ZLFLOW_NETWORK_LOG"]
_connect = socket.socket.connect


def _record(what):
    with open(_log, "a") as handle:
        handle.write(f"{what}\\n")
    raise OSError(f"network access during an inspection command: {what}")


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _record(address)
    return _connect(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect
socket.getaddrinfo = lambda host, *args, **kwargs: _record(host)
"""
