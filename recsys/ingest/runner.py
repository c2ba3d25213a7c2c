"""`recsys catalog import` and `recsys users import`: read, validate, upsert, report.

Every row is validated on its own: a bad one goes to the rejects file with its line number and
reason, the good ones are upserted by the board's id. Re-importing a file changes nothing;
`close_missing` closes the source's open postings that a full feed no longer lists.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from recsys.catalog_db import CatalogStore, UpsertResult
from recsys.ingest.mapping import Mapping
from recsys.ingest.places import posting_rows, seeker_rows
from recsys.ingest.readers import RawRow, Unreadable, columns_of, read_rows
from recsys.ingest.records import (
    POSTING_INPUT_FIELDS,
    SEEKER_INPUT_FIELDS,
    PostingRecord,
    SeekerRecord,
    reasons,
)

Progress = Callable[[int], None]


@dataclass
class ImportSummary:
    """What one import did; `rows_per_s` counts every row read, rejects included."""

    file: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    closed: int = 0
    seconds: float = 0.0
    rejects_file: str | None = None
    first_rejects: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def add(self, result: UpsertResult) -> None:
        self.inserted += result.inserted
        self.updated += result.updated
        self.unchanged += result.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rows_per_s": round(self.rows_per_s, 1)}


class _Rejects:
    """The rejects file: line, reason and the raw row, written as rows are rejected."""

    def __init__(self, path: Path, summary: ImportSummary):
        self.path = path
        self.summary = summary
        self._writer: Any = None
        self._handle: Any = None

    def add(self, line: int, reason: str, values: dict[str, Any] | None) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line", "reason", "row"])
            self.summary.rejects_file = str(self.path)
        self._writer.writerow([line, reason, json.dumps(values or {}, default=str)])
        self.summary.rejected += 1
        if len(self.summary.first_rejects) < 5:
            self.summary.first_rejects.append(f"line {line}: {reason}")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _validated(
    chunk: list[RawRow | Unreadable],
    mapping: Mapping,
    side: pd.DataFrame | None,
    model: type[BaseModel],
    fields: tuple[str, ...],
    key: str,
    seen: dict[str, int],
    rejects: _Rejects,
) -> tuple[list[Any], list[RawRow]]:
    good: list[Any] = []
    lines: list[RawRow] = []
    for row in chunk:
        if isinstance(row, Unreadable):
            rejects.add(row.line, row.reason, None)
            continue
        values = dict(row.values)
        if side is not None and mapping.enrich_key is not None:
            extra = _side_values(side, values.get(mapping.enrich_key))
            values.update({k: v for k, v in extra.items() if values.get(k) is None})
        try:
            record = model.model_validate(mapping.apply(values, fields))
        except ValidationError as exc:
            rejects.add(row.line, reasons(exc), row.values)
            continue
        ident = str(getattr(record, key))
        if ident in seen:
            rejects.add(row.line, f"{key} {ident!r} repeats line {seen[ident]}", row.values)
            continue
        seen[ident] = row.line
        good.append(record)
        lines.append(row)
    return good, lines


def _side_values(side: pd.DataFrame, key: Any) -> dict[str, Any]:
    if key is None:
        return {}
    text = str(key).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if text not in side.index:
        return {}
    return {k: v for k, v in side.loc[text].items() if not _missing(v)}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


@contextmanager
def _importing(path: Path, rejects_path: Path) -> Iterator[tuple[ImportSummary, _Rejects]]:
    """The summary and rejects file of one import; times it and closes the rejects file."""
    summary = ImportSummary(str(path))
    rejects = _Rejects(rejects_path, summary)
    t0 = time.perf_counter()
    try:
        yield summary, rejects
    finally:
        rejects.close()
        summary.seconds = time.perf_counter() - t0


def _chunks(
    path: Path, summary: ImportSummary, progress: Progress | None
) -> Iterator[list[RawRow | Unreadable]]:
    """The file's chunks, counted as read and reported to `progress` once handled."""
    for chunk in read_rows(path):
        summary.read += len(chunk)
        yield chunk
        if progress is not None:
            progress(len(chunk))


def import_postings(
    store: CatalogStore,
    path: Path,
    mapping: Mapping,
    *,
    source: str,
    now: datetime,
    rejects_path: Path,
    close_missing: bool = False,
    posted_at: datetime | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Upsert a file of postings; see the module docstring. `posted_at` is when a new posting
    that names no posting time was posted (default: now, when the import first sees it)."""
    path = Path(path)
    side = mapping.enrich(path) if mapping.enrich is not None else None
    mapping.check(
        POSTING_INPUT_FIELDS, columns_of(path) + list(side.columns if side is not None else [])
    )
    seen: dict[str, int] = {}
    with _importing(path, rejects_path) as (summary, rejects):
        for chunk in _chunks(path, summary, progress):
            records, lines = _validated(
                chunk,
                mapping,
                side,
                PostingRecord,
                POSTING_INPUT_FIELDS,
                "external_id",
                seen,
                rejects,
            )
            frame, unplaced = posting_rows(records, source)
            for i, reason in unplaced:
                rejects.add(lines[i].line, reason, lines[i].values)
                seen.pop(records[i].external_id, None)
            if not frame.empty:
                summary.add(store.postings.upsert(frame.drop(columns="_index"), now, posted_at))
        if close_missing:
            summary.closed = store.postings.close_missing(source, seen, now)
    return summary


def import_seekers(
    store: CatalogStore,
    path: Path,
    mapping: Mapping,
    *,
    source: str,
    now: datetime,
    rejects_path: Path,
    progress: Progress | None = None,
) -> ImportSummary:
    """Upsert a file of seeker profiles by `user_id`."""
    path = Path(path)
    mapping.check(SEEKER_INPUT_FIELDS, columns_of(path))
    seen: dict[str, int] = {}
    with _importing(path, rejects_path) as (summary, rejects):
        for chunk in _chunks(path, summary, progress):
            records, _ = _validated(
                chunk, mapping, None, SeekerRecord, SEEKER_INPUT_FIELDS, "user_id", seen, rejects
            )
            if records:
                summary.add(store.seekers.upsert(seeker_rows(records, source), now))
    return summary
