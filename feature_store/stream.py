"""The durable event log: accepted events are appended here, then drained to daily Parquet.

`append` is idempotent by `event_id`, so a retried POST or a replayed batch never counts twice;
`drain` writes first and trims after, and skips ids already on disk, so a crash in between
neither loses nor duplicates events. `feature_store.backends.open_stream` opens one (SQLite
or a Redis Stream).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

__all__ = ["EventStream"]


@runtime_checkable
class EventStream(Protocol):
    """An append-only, deduplicating event log."""

    def append(self, events: pd.DataFrame) -> int:
        """Append a batch (event schema); returns how many events were new."""
        ...

    def append_new(self, events: pd.DataFrame) -> pd.DataFrame:
        """Like `append`, returning the new rows: the ones to apply to the online store."""
        ...

    def pending(self) -> int:
        """How many appended events await the next drain."""
        ...

    def drain(self, events_root: Path) -> int:
        """Move all appended events into `<events_root>/date=YYYY-MM-DD/`; returns rows written."""
        ...

    def clear(self) -> None:
        """Forget every event and id (tests)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
