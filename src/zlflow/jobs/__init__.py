"""One function per workflow job: what a Snakemake script calls with plain values.

Each job logs progress to the rule's log file (and stderr), and on a known failure
logs one clear message before re-raising, so the run stops with it shown once.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zlflow.errors import ZlflowError

log = logging.getLogger("zlflow")


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


def main(log_path: str | Path, job: Callable[..., None], **kwargs: Any) -> None:
    """Run one job with its logging; the entry point every Snakemake script uses."""
    with job_logging(log_path):
        job(**kwargs)
