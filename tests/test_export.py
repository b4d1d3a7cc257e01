"""Exporting the real 1-month training view: Parquet, sidecar, fingerprint and schema check."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from zlflow.errors import ExportError
from zlflow.export import ID_COLUMNS, SPLITS, export_training, feature_columns, fingerprint
from zlflow.warehouse.duckdb import DuckDBWarehouse

SOURCE = "training.vw_zl_1m_v1"
DAY = date(2015, 6, 1)  # a train row


@pytest.fixture(scope="module")
def view(built_warehouse: Path, config: dict[str, Any]) -> pa.Table:
    with DuckDBWarehouse(built_warehouse, config["datasets"]) as warehouse:
        return warehouse.query_arrow("SELECT * FROM ${training}.vw_zl_1m_v1")


@pytest.fixture(scope="module")
def zl_daily_columns(built_warehouse: Path, config: dict[str, Any]) -> list[str]:
    with DuckDBWarehouse(built_warehouse, config["datasets"]) as warehouse:
        return [name for name, _ in warehouse.table_info("features", "zl_daily_v1").columns]


def _export(table: pa.Table, folder: Path, stem: str = "zl_1m") -> dict[str, Any]:
    return export_training(table, folder / f"{stem}.parquet", folder / f"{stem}.json", SOURCE)


def _row_of(table: pa.Table, day: date) -> int:
    matches = pc.indices_nonzero(pc.equal(table.column("trade_date"), pa.scalar(day))).to_pylist()
    assert len(matches) == 1
    return int(matches[0])


def _with_value(table: pa.Table, column: str, row: int, value: object) -> pa.Table:
    """The table with one cell replaced, column type kept."""
    index = table.schema.get_field_index(column)
    field = table.schema.field(index)
    values = table.column(index).to_pylist()
    values[row] = value
    return table.set_column(index, field, pa.array(values, type=field.type))


# --- a good export ---------------------------------------------------------------------


def test_export_writes_parquet_and_sidecar(
    view: pa.Table, tmp_path: Path, config: dict[str, Any]
) -> None:
    summary = export_training(
        view,
        tmp_path / "zl_1m.parquet",
        tmp_path / "zl_1m.json",
        SOURCE,
        compression=config["export"]["compression"],
    )
    written = pq.read_table(tmp_path / "zl_1m.parquet")
    assert written.equals(view.sort_by("trade_date"))
    metadata = pq.ParquetFile(tmp_path / "zl_1m.parquet").metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"

    sidecar = json.loads((tmp_path / "zl_1m.json").read_text())
    assert sidecar == summary
    assert sidecar["source"] == SOURCE
    assert sidecar["rows"] == view.num_rows == 4611
    dates = view.column("trade_date")
    assert sidecar["date_min"] == str(pc.min(dates).as_py()) == "2006-03-01"
    assert sidecar["date_max"] == str(pc.max(dates).as_py()) == "2024-06-21"
    assert sidecar["columns"] == [[f.name, str(f.type)] for f in view.schema]
    assert ["trade_date", "date32[day]"] in sidecar["columns"]
    assert sum(sidecar["splits"].values()) == view.num_rows
    assert set(sidecar["splits"]) <= set(SPLITS)
    for split, count in sidecar["splits"].items():
        assert count == pc.sum(pc.equal(view.column("split"), split)).as_py()
    assert re.fullmatch(r"[0-9a-f]{64}", sidecar["fingerprint_sha256"])
    assert sidecar["fingerprint_sha256"] == fingerprint(view.sort_by("trade_date"))
    # No temporary files are left beside the outputs.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zl_1m.json", "zl_1m.parquet"]


def test_fingerprint_is_stable_and_sees_one_changed_value(view: pa.Table, tmp_path: Path) -> None:
    first = _export(view, tmp_path, "first")
    second = _export(view, tmp_path, "second")
    assert first["fingerprint_sha256"] == second["fingerprint_sha256"]
    first_bytes = (tmp_path / "first.parquet").read_bytes()
    assert first_bytes == (tmp_path / "second.parquet").read_bytes()
    # Row order of the input does not matter: export sorts by trade date.
    shuffled = view.take(pa.array(list(range(view.num_rows))[::-1]))
    assert (
        _export(shuffled, tmp_path, "shuffled")["fingerprint_sha256"] == first["fingerprint_sha256"]
    )

    row = _row_of(view, DAY)
    close = view.column("close")[row].as_py()
    changed = _export(_with_value(view, "close", row, close + 0.01), tmp_path, "changed")
    assert changed["fingerprint_sha256"] != first["fingerprint_sha256"]
    assert (tmp_path / "changed.parquet").read_bytes() != first_bytes
    assert {k: v for k, v in changed.items() if k not in ("fingerprint_sha256", "time")} == {
        k: v for k, v in first.items() if k not in ("fingerprint_sha256", "time")
    }


# --- a bad export leaves the good file alone -------------------------------------------


def _null_feature(table: pa.Table) -> pa.Table:
    return _with_value(table, "rsi_14", _row_of(table, DAY), None)


def _target_on_trade_date(table: pa.Table) -> pa.Table:
    return _with_value(table, "target_date", _row_of(table, DAY), DAY)


def _target_before_trade_date(table: pa.Table) -> pa.Table:
    return _with_value(table, "target_date", _row_of(table, DAY), DAY - timedelta(days=3))


def _unknown_split(table: pa.Table) -> pa.Table:
    return _with_value(table, "split", _row_of(table, DAY), "holdout")


def _warmup_row(table: pa.Table) -> pa.Table:
    return _with_value(table, "is_warmup", _row_of(table, DAY), True)


def _live_row_with_target(table: pa.Table) -> pa.Table:
    return _with_value(table, "split", _row_of(table, DAY), "live")


BAD_FRAMES: dict[str, tuple[Callable[[pa.Table], pa.Table], tuple[str, ...]]] = {
    "null_feature": (_null_feature, ("rsi_14", "not_nullable")),
    "target_on_trade_date": (_target_on_trade_date, ("target_date must be after trade_date",)),
    "target_before_trade_date": (
        _target_before_trade_date,
        ("target_date must be after trade_date",),
    ),
    "unknown_split": (_unknown_split, ("split", "isin", "holdout")),
    "warmup_row": (_warmup_row, ("is_warmup", "equal_to")),
    "live_row_with_target": (_live_row_with_target, ("exactly the live rows have no target",)),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_bad_frame_is_refused_and_good_file_kept(view: pa.Table, tmp_path: Path, case: str) -> None:
    good = _export(view, tmp_path)
    parquet, sidecar = tmp_path / "zl_1m.parquet", tmp_path / "zl_1m.json"
    before = (parquet.read_bytes(), sidecar.read_bytes())

    corrupt, expected = BAD_FRAMES[case]
    with pytest.raises(ExportError) as caught:
        _export(corrupt(view), tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: export failed its schema check")
    for text in expected:
        assert text in message, f"{text!r} not in:\n{message}"

    assert (parquet.read_bytes(), sidecar.read_bytes()) == before
    assert json.loads(sidecar.read_text())["fingerprint_sha256"] == good["fingerprint_sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zl_1m.json", "zl_1m.parquet"]


# --- what the export holds -------------------------------------------------------------


def test_regime_is_a_label_not_a_feature(
    view: pa.Table, tmp_path: Path, zl_daily_columns: list[str]
) -> None:
    summary = _export(view, tmp_path)
    features = summary["features"]
    assert "regime" not in features
    assert not set(features) & set(ID_COLUMNS)
    assert features == feature_columns(view.column_names)
    # The inputs are the feature table's columns less its ids and the hindsight regime.
    assert set(features) == set(zl_daily_columns) - set(ID_COLUMNS)
    assert len(features) == 48
    written = pq.read_table(tmp_path / "zl_1m.parquet")
    assert all(written.schema.field(c).type == pa.float64() for c in features)
    assert written.schema.field("regime").type == pa.string()
    # No input is the regime in disguise: none is constant within every regime.
    frame = written.select(["regime", *features]).to_pandas()
    per_regime = frame.groupby("regime")[features].nunique()
    assert (per_regime.max() > 1).all(), per_regime.columns[(per_regime.max() <= 1).to_numpy()]


def test_every_target_is_realised_after_its_trade_date(view: pa.Table, tmp_path: Path) -> None:
    _export(view, tmp_path)
    frame = pq.read_table(tmp_path / "zl_1m.parquet").to_pandas(date_as_object=False)
    live = frame["split"] == "live"
    assert int(live.sum()) == 21
    assert frame.loc[live, "target_date"].isna().all()
    known = frame[~live]
    assert known["target_date"].notna().all()
    assert (known["target_date"] > known["trade_date"]).all()
    assert (frame["horizon"] == "1m").all()
    assert (frame["horizon_days"] == 21).all()
    assert not frame["is_warmup"].any()
    assert frame["trade_date"].is_unique
