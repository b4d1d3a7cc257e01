"""One function per workflow job: what a Snakemake script calls with plain values.

Each job logs progress to the rule's log file (and stderr). A known failure (a
``ZlflowError``) is shown once on stderr as its message, without a traceback; the
traceback goes to the rule's log file only, and the job exits with status 1.
Warehouse jobs connect through ``connect`` here, which labels every BigQuery job with the
rule that ran it, so billing and the job history show where bytes went.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from zlflow.errors import ZlflowError
from zlflow.warehouse import Warehouse
from zlflow.warehouse import connect as connect_warehouse

# OpenMP threads (PyTorch; LightGBM too if given threads) spin while they wait for each
# other by default; on a machine shared with other work a descheduled thread then stalls its
# peers at every barrier (a 2-thread LSTM step measured 25x slower beside two busy processes,
# 1.05x with a passive wait). Each job is a process of its own, and nothing imported above
# has loaded an OpenMP runtime yet, so the default set here takes effect; a user's value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

log = logging.getLogger("zlflow")
_labels: ContextVar[dict[str, str] | None] = ContextVar("zlflow_job_labels", default=None)


def connect(warehouse: Mapping[str, Any]) -> Warehouse:
    """Open the job's warehouse with the job's labels (BigQuery) set by ``main``."""
    return connect_warehouse(dict(warehouse), labels=_labels.get())


_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class _WithoutTraceback(logging.Formatter):
    """Formats a record without its traceback (stderr shows a zlflow error's message only)."""

    def format(self, record: logging.LogRecord) -> str:
        plain = logging.makeLogRecord(record.__dict__)
        plain.exc_info, plain.exc_text, plain.stack_info = None, None, None
        return super().format(plain)


@contextmanager
def job_logging(log_path: str | Path) -> Iterator[logging.Logger]:
    """Send zlflow's log records to the rule's log file and to stderr for this job."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.FileHandler(log_path, mode="w"),
        logging.StreamHandler(sys.stderr),
    ]
    handlers[0].setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
    handlers[1].setFormatter(_WithoutTraceback(_FORMAT, "%H:%M:%S"))
    for handler in handlers:
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield log
    except ZlflowError as err:
        # The message once on stderr; the traceback only in the job's log file.
        log.error("%s", err, exc_info=True)
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
    except ZlflowError:
        sys.exit(1)  # already said once, with the traceback in the log: no second copy
    finally:
        _labels.reset(token)
