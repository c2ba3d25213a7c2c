"""Writing drained events into the daily Parquet log without ever writing an event twice."""

from __future__ import annotations

import time
import uuid
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from feature_store.events import partition_dir, write_partition


def _ids_on_disk(root: Path, day: date) -> set[str]:
    files = sorted(partition_dir(root, day).glob("*.parquet"))
    ids: set[str] = set()
    for path in files:
        ids.update(pq.read_table(path, columns=["event_id"]).column("event_id").to_pylist())
    return ids


def unique_part_name() -> str:
    """A part name no other drain will pick: time-ordered, with a random suffix."""
    return f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def write_new_events(root: Path, events: pd.DataFrame) -> int:
    """Append events to their UTC day's partition, skipping ids that day already holds.

    A drain that crashed after writing but before trimming its stream re-reads the same events;
    skipping ids already on disk makes that re-drain write nothing twice. Returns rows written.
    """
    if events.empty:
        return 0
    frame = events.drop_duplicates("event_id", keep="first")
    days = frame["ts"].dt.tz_convert("UTC").dt.date
    written = 0
    for day, group in frame.groupby(days, sort=True):
        fresh = group[~group["event_id"].isin(_ids_on_disk(Path(root), day))]
        if not fresh.empty:
            write_partition(Path(root), day, fresh, part=unique_part_name())
            written += len(fresh)
    return written
