"""Check a data file with the same gate the workflow loads it through, touching no warehouse.

    python -m zlflow.validate my_zl.csv --table raw_futures_daily --symbol ZL \\
        --column date=Date --column close=Settle

Exit status 0 and one summary line when the file would load; 1 and every problem (file,
row and line, column, value, rule) when it would not; 2 for a wrong command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from zlflow.errors import ZlflowError
from zlflow.sources.files import FILE_COLUMNS, read_file, repairs, spec_from_entry
from zlflow.sources.tables import DATE_COLUMNS
from zlflow.sources.validate import DEFAULT_EXCHANGE, validate_raw


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m zlflow.validate",
        description="Check a CSV or Parquet file for a raw table without loading it.",
    )
    parser.add_argument("path", help="the CSV or Parquet file")
    parser.add_argument("--table", required=True, choices=sorted(FILE_COLUMNS))
    parser.add_argument("--format", choices=["csv", "parquet"], help="default: from the name")
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="TABLE_COLUMN=FILE_COLUMN",
        help="the file's name for a table column, e.g. date=Date (repeatable)",
    )
    parser.add_argument("--date-format", help="strftime format of the dates (default ISO 8601)")
    parser.add_argument(
        "--na-value", action="append", help="a token meaning missing (default: empty cell)"
    )
    for key in ("symbol", "source", "label-kind", "series", "station", "region"):
        parser.add_argument(f"--{key}")
    parser.add_argument("--repair", action="append", help="opt in to a repair: widen_range")
    parser.add_argument(
        "--exchange",
        default=DEFAULT_EXCHANGE,
        help="exchange calendar of the gap check (config calendar.exchanges; default "
        f"{DEFAULT_EXCHANGE})",
    )
    return parser


def entry_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The config entry (as under ``files.<table>``) that the command line describes."""
    entry: dict[str, Any] = {"path": args.path}
    columns = {}
    for item in args.column:
        column, sep, name = item.partition("=")
        if not sep or not column or not name:
            raise ZlflowError(f"--column {item!r}: write TABLE_COLUMN=FILE_COLUMN, e.g. date=Date")
        columns[column] = name
    if columns:
        entry["columns"] = columns
    optional = {
        "format": args.format,
        "date_format": args.date_format,
        "na_values": args.na_value,
        "symbol": args.symbol,
        "source": args.source,
        "label_kind": args.label_kind,
        "series": args.series,
        "station": args.station,
        "region": args.region,
        "repair": args.repair,
    }
    entry |= {k: v for k, v in optional.items() if v is not None}
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        spec = replace(spec_from_entry(args.table, entry_from_args(args)), exchange=args.exchange)
        frame = read_file(spec)
        validate_raw(
            args.table, frame, "files", str(spec.path), widen=spec.widen, exchange=args.exchange
        )
    except ZlflowError as err:
        print(err, file=sys.stderr)
        return 1
    dates = frame[DATE_COLUMNS[args.table]]
    repaired = {k: v for k, v in repairs(frame, args.table, spec.widen).items() if v}
    print(
        f"{spec.path}: ok, {len(frame)} rows for {args.table}, "
        f"{dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d}"
        + (f"; repairs {repaired}" if repaired else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
