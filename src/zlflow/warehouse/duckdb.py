"""The embedded default backend: one DuckDB file, datasets as schemas.

DuckDB allows one writing process per file, so every connection holds an exclusive
file lock beside the database: parallel Snakemake jobs queue instead of failing.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from filelock import FileLock, Timeout

from zlflow.errors import SqlError, ZlflowError
from zlflow.warehouse.base import MergeResult, TableInfo, Warehouse, columns_to_add
from zlflow.warehouse.sql import SqlObject, check_identifier
from zlflow.warehouse.transpile import to_duckdb
from zlflow.warehouse.wap import VERSIONS, published_datasets

if TYPE_CHECKING:  # a deploy job never needs pyarrow: leave its import to the callers
    import pyarrow as pa


class DuckDBWarehouse(Warehouse):
    """Warehouse on a local DuckDB file (``:memory:`` for throwaway use)."""

    backend = "duckdb"

    def __init__(
        self,
        path: str | Path,
        datasets: dict[str, str],
        lock_timeout_s: float = 600,
        threads: int | None = None,
    ) -> None:
        """``threads=1`` makes parallel window sums add in one fixed order, so a rebuild
        gives bit-identical tables (with more threads they may differ by about 1e-16)."""
        super().__init__(datasets)
        self.path = str(path)
        self._lock: FileLock | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(self.path + ".lock")
            try:
                self._lock.acquire(timeout=lock_timeout_s)
            except Timeout as err:
                raise ZlflowError(
                    f"DuckDB file {self.path} stayed locked for {lock_timeout_s:.0f} s "
                    "by another job; is a stuck process holding it?"
                ) from err
        try:
            settings = {} if threads is None else {"threads": int(threads)}
            self.con = duckdb.connect(self.path, config=settings)
        except duckdb.Error as err:
            self._release()
            raise ZlflowError(f"cannot open DuckDB file {self.path}: {err}") from err
        # DuckDB redraws a progress bar on stdout for queries over 2 s; in a job log (no
        # terminal) that is thousands of carriage-return updates, so only a terminal gets it.
        self.con.execute(f"SET enable_progress_bar = {str(sys.stdout.isatty()).lower()}")
        self.ensure_datasets()

    def ensure_datasets(self) -> None:
        for schema in self.datasets.values():
            self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def _release(self) -> None:
        if self._lock is not None and self._lock.is_locked:
            self._lock.release()

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._release()

    def translate(self, bigquery_sql: str) -> str:
        return to_duckdb(bigquery_sql)

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.con.execute(sql, params or {})

    def query_native(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        try:
            return self.con.sql(sql, params=params or None).to_arrow_table()
        except duckdb.Error as err:
            raise SqlError(f"query failed on DuckDB: {err}") from err

    def deploy(self, obj: SqlObject) -> TableInfo:
        target = self.table(obj.dataset, obj.name)
        body = to_duckdb(obj.render(self.datasets), obj.path)
        kind = "TABLE" if obj.materialize == "table" else "VIEW"
        existing = self._kind(obj.dataset, obj.name)
        try:
            self.con.execute("BEGIN TRANSACTION")
            if existing is not None and existing != kind:
                # CREATE OR REPLACE cannot change a table into a view or back.
                self.con.execute(f"DROP {existing} {target}")
            self.con.execute(f"CREATE OR REPLACE {kind} {target} AS {body}")
            self.con.execute("COMMIT")
        except duckdb.Error as err:
            self.con.execute("ROLLBACK")
            raise SqlError(f"{obj.path}: deploying {target} failed on DuckDB: {err}") from err
        return self.table_info(obj.dataset, obj.name)

    def load_parquet(self, dataset_key: str, name: str, path: Path) -> TableInfo:
        target = self.table(dataset_key, name)
        try:
            self.con.execute("BEGIN TRANSACTION")
            self.con.execute(
                f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM read_parquet($path)",
                {"path": str(path)},
            )
            self.con.execute("COMMIT")
        except duckdb.Error as err:
            self.con.execute("ROLLBACK")
            raise ZlflowError(f"loading {path} into {target} failed: {err}") from err
        return self.table_info(dataset_key, name)

    def merge_parquet(
        self,
        dataset_key: str,
        name: str,
        path: Path,
        keys: Sequence[str],
        partition_by: str | None = None,
        cluster_by: Sequence[str] = (),
    ) -> MergeResult:
        del partition_by, cluster_by  # DuckDB has no partitioned tables: nothing to apply
        target = self.table(dataset_key, name)
        keys = [check_identifier(k, "merge key") for k in keys]
        on = " AND ".join(f"t.{k} IS NOT DISTINCT FROM s.{k}" for k in keys)
        try:
            self.con.execute("BEGIN TRANSACTION")
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE incoming AS SELECT * FROM read_parquet($path)",
                {"path": str(path)},
            )
            duplicates = self.con.execute(
                f"SELECT COUNT(*) FROM (SELECT {', '.join(keys)} FROM incoming "
                f"GROUP BY ALL HAVING COUNT(*) > 1)"
            ).fetchall()[0][0]
            if duplicates:
                raise ZlflowError(f"{path}: {duplicates} duplicate key(s) on {keys} for {target}")
            if self._kind(dataset_key, name) is None:
                self.con.execute(f"CREATE TABLE {target} AS SELECT * FROM incoming")
                rows = self.con.execute("SELECT COUNT(*) FROM incoming").fetchall()[0][0]
                self.con.execute("COMMIT")
                return MergeResult(inserted=rows, updated=0, unchanged=0, rows=rows)
            expected = self._columns(dataset_key, name)
            found = [(row[0], row[1]) for row in self.con.execute("DESCRIBE incoming").fetchall()]
            for column, type_ in columns_to_add(expected, found, f"{path} does not match {target}"):
                self.con.execute(f"ALTER TABLE {target} ADD COLUMN {column} {type_}")
            expected = self._columns(dataset_key, name)
            columns = [c for c, _ in expected]
            same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM s.{c}" for c in columns)
            counts = self.con.execute(
                f"SELECT COUNT(*) FILTER (WHERE t_found AND NOT is_same), "
                f"COUNT(*) FILTER (WHERE is_same), COUNT(*) FILTER (WHERE NOT t_found) FROM ("
                f"SELECT EXISTS (SELECT 1 FROM {target} AS t WHERE {on}) AS t_found, "
                f"EXISTS (SELECT 1 FROM {target} AS t WHERE {same}) AS is_same FROM incoming AS s)"
            ).fetchall()[0]
            updates = ", ".join(f"{c} = s.{c}" for c in columns if c not in keys)
            matched = f"WHEN MATCHED THEN UPDATE SET {updates} " if updates else ""
            self.con.execute(
                f"MERGE INTO {target} AS t USING incoming AS s ON {on} {matched}"
                f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) "
                f"VALUES ({', '.join('s.' + c for c in columns)})"
            )
            rows = self.con.execute(f"SELECT COUNT(*) FROM {target}").fetchall()[0][0]
            self.con.execute("COMMIT")
        except (duckdb.Error, ZlflowError) as err:
            self.con.execute("ROLLBACK")
            if isinstance(err, ZlflowError):
                raise
            raise ZlflowError(f"merging {path} into {target} failed: {err}") from err
        finally:
            self.con.execute("DROP TABLE IF EXISTS incoming")
        return MergeResult(
            inserted=int(counts[2]),
            updated=int(counts[0]),
            unchanged=int(counts[1]),
            rows=int(rows),
        )

    def publish(
        self,
        tables: Sequence[tuple[str, str]],
        views: Sequence[SqlObject],
        versions: Mapping[str, str] | None = None,
    ) -> None:
        published = published_datasets(self.datasets)
        record = f"{check_identifier(published['market_data'], 'dataset')}.{VERSIONS}"
        try:
            self.con.execute("BEGIN TRANSACTION")
            for key, name in tables:
                target = f"{check_identifier(published[key], 'dataset')}.{name}"
                if self._kind_in(published[key], name) == "VIEW":
                    self.con.execute(f"DROP VIEW {target}")
                source = self.table(key, name)
                self.con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {source}")
            for obj in views:
                target = f"{published[obj.dataset]}.{obj.name}"
                if self._kind_in(published[obj.dataset], obj.name) == "TABLE":
                    self.con.execute(f"DROP TABLE {target}")
                body = to_duckdb(obj.render(published), obj.path)
                self.con.execute(f"CREATE OR REPLACE VIEW {target} AS {body}")
            self.con.execute(
                f"CREATE TABLE IF NOT EXISTS {record} (object VARCHAR, version VARCHAR)"
            )
            self.con.execute(f"DELETE FROM {record}")
            if versions:
                self.con.executemany(
                    f"INSERT INTO {record} VALUES (?, ?)", sorted(versions.items())
                )
            self.con.execute("COMMIT")
        except duckdb.Error as err:
            self.con.execute("ROLLBACK")
            raise SqlError(
                f"publishing the candidate failed on DuckDB (nothing changed): {err}"
            ) from err

    def list_objects(self, dataset_key: str) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $s "
            "ORDER BY table_name",
            {"s": self.datasets[dataset_key]},
        ).fetchall()
        return [r[0] for r in rows]

    def drop_dataset(self, dataset_key: str) -> None:
        self.con.execute(f'DROP SCHEMA IF EXISTS "{self.datasets[dataset_key]}" CASCADE')

    def _kind_in(self, schema: str, name: str) -> str | None:
        rows = self.con.execute(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = $s AND table_name = $t",
            {"s": schema, "t": name},
        ).fetchall()
        if not rows:
            return None
        return "VIEW" if rows[0][0] == "VIEW" else "TABLE"

    def _columns(self, dataset_key: str, name: str) -> list[tuple[str, str]]:
        return self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = $s AND table_name = $t ORDER BY ordinal_position",
            {"s": self.datasets[dataset_key], "t": name},
        ).fetchall()

    def _kind(self, dataset_key: str, name: str) -> str | None:
        return self._kind_in(self.datasets[dataset_key], name)

    def table_info(self, dataset_key: str, name: str) -> TableInfo:
        schema = self.datasets[dataset_key]
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = $s AND table_name = $t ORDER BY ordinal_position",
            {"s": schema, "t": name},
        ).fetchall()
        if not rows:
            raise ZlflowError(f"{schema}.{name} does not exist in {self.path}")
        is_view = self._kind(dataset_key, name) == "VIEW"
        count = f"SELECT COUNT(*) FROM {self.table(dataset_key, name)}"
        return TableInfo(
            dataset=schema,
            name=name,
            kind="view" if is_view else "table",
            rows=None if is_view else int(self.con.execute(count).fetchall()[0][0]),
            columns=[(c, t) for c, t in rows],
        )
