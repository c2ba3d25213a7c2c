"""Cold start: rebuild the online store from the offline Parquet event log."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from feature_store.events import read_events
from feature_store.online import OnlineStore


def materialize(
    store: OnlineStore,
    events_root: Path,
    until: date,
    days: int = 7,
    *,
    chunk_size: int = 50_000,
) -> int:
    """Apply the events of the `days` days ending at `until` (inclusive); returns how many.

    Events are applied oldest first in chunks, so histories end newest first and one chunk's
    transaction or pipeline stays bounded. Run it on an empty store: `apply_events` adds, so
    materializing twice counts everything twice.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    frame = read_events(Path(events_root), until - timedelta(days=days - 1), until)
    frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
    for start in range(0, len(frame), chunk_size):
        store.apply_events(frame.iloc[start : start + chunk_size])
    return len(frame)
