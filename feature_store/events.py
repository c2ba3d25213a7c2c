"""The event schema shared by the market simulator, the service's event log and training.

One row per impression, click or apply. Daily partitions are Parquet files under
`<root>/date=YYYY-MM-DD/`. `position` is the 0-based slot in the served list (-1 when unknown).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

EventType = Literal[
    "impression", "click", "apply", "candidate_impression", "candidate_view", "shortlist", "contact"
]
#: what a seeker does with a served job list
SEEKER_EVENT_TYPES: Final[tuple[str, ...]] = ("impression", "click", "apply")
#: what an employer does with a served candidate list (user_id is the seeker, job_id the posting)
EMPLOYER_EVENT_TYPES: Final[tuple[str, ...]] = (
    "candidate_impression",
    "candidate_view",
    "shortlist",
    "contact",
)
EVENT_TYPES: Final[tuple[str, ...]] = SEEKER_EVENT_TYPES + EMPLOYER_EVENT_TYPES

EVENT_SCHEMA: Final = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("job_id", pa.int64(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("position", pa.int16(), nullable=False),
    ]
)
EVENT_COLUMNS: Final[list[str]] = EVENT_SCHEMA.names


def partition_dir(root: Path, day: date) -> Path:
    """Folder of one day's events."""
    return Path(root) / f"date={day.isoformat()}"


def write_partition(root: Path, day: date, events: pd.DataFrame, part: str = "part-0") -> Path:
    """Write one day's events (replacing the same part), checked against the schema."""
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"events lack columns {missing}; expected {EVENT_COLUMNS}")
    bad = set(events["type"].unique()) - set(EVENT_TYPES)
    if bad:
        raise ValueError(f"unknown event types {sorted(bad)}; expected {EVENT_TYPES}")
    table = pa.Table.from_pandas(events[EVENT_COLUMNS], schema=EVENT_SCHEMA, preserve_index=False)
    out = partition_dir(root, day)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{part}.parquet"
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def partition_days(root: Path) -> list[date]:
    """Days that have a partition, in order."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(date.fromisoformat(p.name[5:]) for p in root.glob("date=*") if p.is_dir())


def read_events(root: Path, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """Events of the days in [start, end] (inclusive), deduplicated by event id."""
    days = [
        d
        for d in partition_days(root)
        if (start is None or d >= start) and (end is None or d <= end)
    ]
    files = [f for d in days for f in sorted(partition_dir(root, d).glob("*.parquet"))]
    if not files:
        return EVENT_SCHEMA.empty_table().to_pandas()
    frame = pa.concat_tables([pq.read_table(f, schema=EVENT_SCHEMA) for f in files]).to_pandas()
    return frame.drop_duplicates("event_id", keep="first").reset_index(drop=True)


def normalize_events(events: pd.DataFrame) -> pd.DataFrame:
    """Check a batch against the schema and coerce dtypes, so stores and streams see one shape.

    Raises ValueError naming what is wrong (missing columns, unknown types, null ids) because a
    malformed event from a client should be rejected before it reaches any store.
    """
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"events lack columns {missing}; expected {EVENT_COLUMNS}")
    frame = events[EVENT_COLUMNS].copy()
    if frame[["event_id", "user_id", "ts", "job_id", "type"]].isna().to_numpy().any():
        raise ValueError("events have null event_id, user_id, ts, job_id or type")
    bad = set(frame["type"].unique()) - set(EVENT_TYPES)
    if bad:
        raise ValueError(f"unknown event types {sorted(bad)}; expected {EVENT_TYPES}")
    frame["event_id"] = frame["event_id"].astype(str)
    frame["user_id"] = frame["user_id"].astype(str)
    frame["request_id"] = frame["request_id"].fillna("").astype(str)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.as_unit("ms")
    frame["job_id"] = frame["job_id"].astype("int64")
    frame["type"] = frame["type"].astype(str)
    frame["position"] = frame["position"].fillna(-1).astype("int16")
    return frame.reset_index(drop=True)


def ts_millis(events: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Epoch milliseconds of a normalized batch's `ts` column."""
    return events["ts"].dt.as_unit("ms").astype("int64").to_numpy()


def events_from_millis(frame: pd.DataFrame) -> pd.DataFrame:
    """Rebuild schema dtypes for rows whose `ts` is epoch milliseconds (as stored by streams)."""
    out = frame[EVENT_COLUMNS].copy()
    out["ts"] = pd.to_datetime(out["ts"].astype("int64"), unit="ms", utc=True).dt.as_unit("ms")
    out["job_id"] = out["job_id"].astype("int64")
    out["position"] = out["position"].astype("int16")
    out["event_id"] = out["event_id"].astype(str)
    out["user_id"] = out["user_id"].astype(str)
    out["request_id"] = out["request_id"].astype(str)
    out["type"] = out["type"].astype(str)
    return out.reset_index(drop=True)
