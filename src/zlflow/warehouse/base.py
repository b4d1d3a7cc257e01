"""The warehouse interface: the few operations the workflow needs from any backend.

Kept small on purpose so that a second backend (BigQuery) is one module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from zlflow.errors import ZlflowError
from zlflow.warehouse.sql import SqlObject, check_identifier, read_sql_text
from zlflow.warehouse.wap import VERSIONS, published_key, versions_sql

if TYPE_CHECKING:  # a deploy job never needs pyarrow: leave its import to the callers
    import pyarrow as pa


@dataclass(frozen=True)
class TableInfo:
    """What a marker records about a deployed object.

    ``rows`` is None for a view: counting would evaluate the whole view (a full query on
    BigQuery, billed; the entire feature pipeline on DuckDB) just to write a marker.
    """

    dataset: str
    name: str
    kind: str
    rows: int | None
    columns: list[tuple[str, str]]


# Lineage columns that raw tables gained after some warehouses had loaded them: a merge
# adds them to such a table (its older rows keep NULL lineage) instead of refusing.
ADDABLE_COLUMNS: Final = frozenset({"source_file", "source_row"})


def columns_to_add(
    table: Sequence[tuple[str, str]], incoming: Sequence[tuple[str, str]], what: str
) -> list[tuple[str, str]]:
    """The columns a merge adds to ``table`` first (incoming lineage columns it lacks);
    any other difference of names or types refuses the file, naming both sides."""
    missing = sorted(set(table) - set(incoming))
    unexpected = sorted(set(incoming) - set(table))
    names = {c for c, _ in table}
    added = [(c, t) for c, t in incoming if c in ADDABLE_COLUMNS and c not in names]
    if missing or set(unexpected) != set(added):
        raise ZlflowError(f"{what}: missing or retyped {missing}, unexpected {unexpected}")
    return added


@dataclass(frozen=True)
class MergeResult:
    """What an idempotent upsert did: a rerun of the same rows is all ``unchanged``."""

    inserted: int
    updated: int
    unchanged: int
    rows: int


class Warehouse(ABC):
    """A connection to one warehouse; datasets map config keys to real names."""

    backend: str

    def __init__(self, datasets: dict[str, str]) -> None:
        self.datasets = {k: check_identifier(v, f"dataset {k}") for k, v in datasets.items()}

    def table(self, dataset_key: str, name: str) -> str:
        """Qualified name of ``name`` in the dataset that config calls ``dataset_key``."""
        if dataset_key not in self.datasets:
            raise KeyError(
                f"unknown dataset key {dataset_key!r}; configured: {sorted(self.datasets)}"
            )
        return f"{self.datasets[dataset_key]}.{check_identifier(name, 'table name')}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def ensure_datasets(self) -> None:
        """Create every dataset of ``self.datasets`` that does not exist yet."""

    @contextmanager
    def using(self, datasets: dict[str, str]) -> Iterator[Self]:
        """This connection with another dataset mapping (e.g. the candidate's) for a while."""
        previous = self.datasets
        self.datasets = {k: check_identifier(v, f"dataset {k}") for k, v in datasets.items()}
        try:
            self.ensure_datasets()
            yield self
        finally:
            self.datasets = previous

    @abstractmethod
    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Run one statement written in this backend's dialect."""

    def query_arrow(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run a BigQuery-dialect query (``${dataset}`` placeholders allowed) as Arrow."""
        return self.query_native(self.translate(read_sql_text(sql).render(self.datasets)), params)

    @abstractmethod
    def translate(self, bigquery_sql: str) -> str:
        """The query in this backend's dialect."""

    @abstractmethod
    def query_native(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Run a query already in this backend's dialect; values go in as parameters."""

    @abstractmethod
    def deploy(self, obj: SqlObject) -> TableInfo:
        """Create or replace the table or view an SQL file defines, atomically."""

    @abstractmethod
    def load_parquet(self, dataset_key: str, name: str, path: Path) -> TableInfo:
        """Replace a table with the contents of a Parquet file, atomically."""

    @abstractmethod
    def merge_parquet(
        self,
        dataset_key: str,
        name: str,
        path: Path,
        keys: Sequence[str],
        partition_by: str | None = None,
        cluster_by: Sequence[str] = (),
    ) -> MergeResult:
        """Upsert a Parquet file into a table on ``keys`` in one transaction.

        Rows whose key exists are updated, new keys inserted, nothing is deleted; a file
        whose columns differ from the table's, or with duplicate keys, changes nothing.
        ``partition_by``/``cluster_by`` apply when the merge creates the table (BigQuery).
        """

    @abstractmethod
    def table_info(self, dataset_key: str, name: str) -> TableInfo:
        """Row count and columns of a table or view."""

    @abstractmethod
    def list_objects(self, dataset_key: str) -> list[str]:
        """Names of the tables and views in a dataset, sorted."""

    @abstractmethod
    def drop_dataset(self, dataset_key: str) -> None:
        """Drop a dataset and everything in it (a discarded candidate)."""

    @abstractmethod
    def publish(
        self,
        tables: Sequence[tuple[str, str]],
        views: Sequence[SqlObject],
        versions: Mapping[str, str] | None = None,
    ) -> None:
        """Replace published objects by their candidates, all at once (write-audit-publish).

        ``self.datasets`` is a candidate mapping (``warehouse.wap.candidate_datasets``):
        each (dataset key, name) table is copied from the candidate dataset to the
        published one, and each view is recreated over the published datasets. Either
        every object changes or none does. ``versions`` (``dataset.name`` -> the
        candidate's version) replaces the record of what is published in the same step;
        None clears it, so that the next versioned publish copies every table.
        """

    def published_versions(self) -> dict[str, str]:
        """``dataset.name`` -> the candidate version last published (empty if unknown)."""
        key = published_key(self.datasets, "market_data")
        try:
            self.table_info(key, VERSIONS)
        except ZlflowError:
            return {}
        rows = self.query_arrow(versions_sql(key))
        return {row["object"]: row["version"] for row in rows.to_pylist()}
