"""Rows of a CSV, Parquet or JSON Lines file, each with the line (or row) number it came from.

Rows come in chunks, so a feed of millions of postings never sits in memory whole. A line that
cannot be parsed at all (broken JSON) comes back as a reject instead of stopping the import.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq

FORMATS = ("csv", "parquet", "jsonl")


@dataclass(frozen=True)
class RawRow:
    line: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Unreadable:
    line: int
    reason: str


def file_format(path: Path) -> str:
    """csv, parquet or jsonl, from the file name (a trailing .gz is looked through)."""
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in ((".csv", "csv"), (".parquet", "parquet"), (".jsonl", "jsonl")):
        if name.endswith(suffix):
            return fmt
    if name.endswith(".ndjson"):
        return "jsonl"
    raise ValueError(f"{path}: unknown format; use a .csv, .parquet or .jsonl file (or .gz)")


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def read_rows(path: Path, chunk_size: int = 5_000) -> Iterator[list[RawRow | Unreadable]]:
    """Chunks of rows; numbers are 1-based file lines (CSV counts the header as line 1)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    fmt = file_format(path)
    rows: Iterator[RawRow | Unreadable]
    if fmt == "csv":
        rows = _csv_rows(path)
    elif fmt == "jsonl":
        rows = _jsonl_rows(path)
    else:
        rows = _parquet_rows(path)
    chunk: list[RawRow | Unreadable] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _csv_rows(path: Path) -> Iterator[RawRow | Unreadable]:
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            return
        start = reader.line_num + 1
        for record in reader:
            if None in record:  # more cells than the header names
                yield Unreadable(
                    start,
                    f"{len(record) - 1 + len(record[None])} cells, header "
                    f"has {len(reader.fieldnames)}",
                )
            else:
                yield RawRow(start, {k: (v if v != "" else None) for k, v in record.items()})
            start = reader.line_num + 1


def _jsonl_rows(path: Path) -> Iterator[RawRow | Unreadable]:
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Unreadable(number, f"not JSON: {exc.msg}")
                continue
            if not isinstance(value, dict):
                yield Unreadable(number, "a line must hold one JSON object")
            else:
                yield RawRow(number, value)


def _parquet_rows(path: Path) -> Iterator[RawRow | Unreadable]:
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=5_000):
        for record in batch.to_pylist():
            number += 1
            yield RawRow(number, record)


def columns_of(path: Path) -> list[str]:
    """The column names a file offers (for error messages about the mapping)."""
    fmt = file_format(Path(path))
    if fmt == "parquet":
        return list(pq.ParquetFile(path).schema_arrow.names)
    for chunk in read_rows(Path(path), chunk_size=1):
        for row in chunk:
            if isinstance(row, RawRow):
                return list(row.values)
        break
    return []
