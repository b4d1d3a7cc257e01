"""One function per workflow job: what a Snakemake script calls with plain values.

Each job logs progress to the rule's log file (and stderr), and on a known failure
logs one clear message before re-raising, so the run stops with it shown once.
Warehouse jobs connect through ``connect`` here, which labels every BigQuery job with the
rule that ran it, so billing and the job history show where bytes went.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from zlflow.errors import ZlflowError
from zlflow.warehouse import Warehouse
from zlflow.warehouse import connect as connect_warehouse

log = logging.getLogger("zlflow")
_labels: ContextVar[dict[str, str] | None] = ContextVar("zlflow_job_labels", default=None)


def connect(warehouse: Mapping[str, Any]) -> Warehouse:
    """Open the job's warehouse with the job's labels (BigQuery) set by ``main``."""
    return connect_warehouse(dict(warehouse), labels=_labels.get())


@contextmanager
def job_logging(log_path: str | Path) -> Iterator[logging.Logger]:
    """Send zlflow's log records to the rule's log file and to stderr for this job."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.FileHandler(log_path, mode="w"),
        logging.StreamHandler(sys.stderr),
    ]
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    for handler in handlers:
        handler.setFormatter(formatter)
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield log
    except ZlflowError as err:
        log.error("%s", err)
        raise
    except Exception:
        log.exception("unexpected error")
        raise
    finally:
        for handler in handlers:
            log.removeHandler(handler)
            handler.close()


def main(
    log_path: str | Path, job: Callable[..., None], rule: str | None = None, **kwargs: Any
) -> None:
    """Run one job with its logging; the entry point every Snakemake script uses.

    ``rule`` (``snakemake.rule``) labels the job's BigQuery jobs as ``rule=<name>``.
    """
    labels = {"workflow": "zlflow"} | ({"rule": rule} if rule else {})
    token = _labels.set(labels)
    try:
        with job_logging(log_path):
            job(**kwargs)
    finally:
        _labels.reset(token)
