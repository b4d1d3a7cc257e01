"""Write-audit-publish: new data is built in candidate datasets, audited, then published.

Loads, deploys and assertions of the layers up to training work on candidate datasets
(``<name>_candidate``); the published datasets change only in one step, after every
assertion passed, which replaces each published object by its candidate at once (one
DuckDB transaction; one BigQuery multi-statement transaction). A failed assertion leaves
the published objects exactly as they were and keeps the candidate for inspection.

A job on the candidate sees the layer keys (``${staging}``...) mapped to candidate names
and each published dataset under ``published_<key>``, for what it must write there (the
assertion results, which the alerts view reads) or compare against (the shrink guard).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from zlflow.errors import SqlError
from zlflow.warehouse.sql import SqlObject, check_identifier

# The datasets a run rebuilds from raw data; forecasts and api are published directly.
LAYERS: Final = ("market_data", "staging", "features", "training")
SUFFIX: Final = "_candidate"
PUBLISHED: Final = "published_"
# In the published market_data dataset: the candidate version of each published object,
# written in the publish transaction, so a publish copies only what was rebuilt since.
VERSIONS: Final = "_zlflow_published"
# The command that inspects a candidate, and (with --discard) drops it: warehouse/candidate.py.
INSPECT: Final = "python -m zlflow.warehouse candidate"


def versions_sql(dataset_key: str) -> str:
    """The record of published versions (``dataset_key``: the published market_data)."""
    return f"SELECT object, version FROM ${{{dataset_key}}}.{VERSIONS}"


def candidate_datasets(datasets: Mapping[str, str]) -> dict[str, str]:
    """The dataset mapping for jobs that build the candidate."""
    if any(k.startswith(PUBLISHED) for k in datasets):
        return dict(datasets)  # already a candidate mapping
    mapping = {
        k: check_identifier(v + SUFFIX, f"candidate dataset {k}") if k in LAYERS else v
        for k, v in datasets.items()
    }
    return mapping | {PUBLISHED + k: v for k, v in datasets.items()}


def published_datasets(datasets: Mapping[str, str]) -> dict[str, str]:
    """The published mapping, from a candidate mapping (or a published one, unchanged)."""
    if not any(k.startswith(PUBLISHED) for k in datasets):
        return dict(datasets)
    return {k.removeprefix(PUBLISHED): v for k, v in datasets.items() if k.startswith(PUBLISHED)}


def published_key(datasets: Mapping[str, str], key: str) -> str:
    """The key under which ``key``'s published dataset is reached with this mapping."""
    return PUBLISHED + key if PUBLISHED + key in datasets else key


def candidate_names(datasets: Mapping[str, str]) -> list[str]:
    """The candidate datasets of a mapping (to name in messages)."""
    return [datasets[k] for k in LAYERS if k in datasets and datasets[k].endswith(SUFFIX)]


def inspect_hint(datasets: Mapping[str, str]) -> str:
    """How to look at or discard a candidate that failed its audit (for error messages)."""
    names = candidate_names(datasets)
    if not names:
        return ""
    return (
        "Nothing was published: every published table and view is as before. The new data "
        f"stays in the candidate datasets {', '.join(names)} for inspection ({INSPECT}, "
        f"or e.g. SELECT * FROM {names[min(1, len(names) - 1)]}.futures_daily); fix the "
        f"input and run again, or discard the candidate with {INSPECT} --discard (add the "
        "run's --configfile options to both)."
    )


def stale_tables(
    tables: list[tuple[str, str]],
    versions: Mapping[str, str] | None,
    published: Mapping[str, str],
    present: set[str],
) -> list[tuple[str, str]]:
    """The tables a publish must copy: each whose candidate version differs from the one
    last published, or whose published table is missing or has other columns (all
    without versions).

    ``published`` and ``versions`` map ``dataset.name`` to a version; ``present`` holds
    the ``dataset.name`` of every published table with its candidate's columns (a publish
    killed before its last step, dropping columns on BigQuery, leaves one that has not).
    """
    if versions is None:
        return list(tables)
    return [
        (d, n)
        for d, n in tables
        if f"{d}.{n}" not in present or versions.get(f"{d}.{n}") != published.get(f"{d}.{n}")
    ]


def split_objects(
    objects: Mapping[str, SqlObject | None],
) -> tuple[list[tuple[str, str]], list[SqlObject]]:
    """Objects to publish as (dataset key, name) table copies and as views to recreate.

    ``objects`` maps ``dataset.name`` to its SQL object, or None for a loaded table.
    """
    tables: list[tuple[str, str]] = []
    views: list[SqlObject] = []
    for key, obj in objects.items():
        dataset, name = key.split(".")
        if dataset not in LAYERS:
            raise SqlError(f"{key} is not in a candidate layer {LAYERS}: it is never published")
        if obj is not None and obj.materialize == "view":
            views.append(obj)
        else:
            tables.append((dataset, name))
    return tables, views
