"""Served feature rows, and the training set built from them and later clicks and applies.

Serving logs, for every impression, the exact feature row the fine ranker scored (with the slot
it was shown in). Training joins those rows with applies and clicks by the same user on the same
job within an attribution window. No feature is recomputed offline, so what the model learns from
is what it saw.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feature_store.events import partition_days, partition_dir, read_events
from recsys.ranking.features import FEATURE_NAMES, POSITION

KEY_COLUMNS = ["request_id", "user_id", "job_id", "position", "ts"]
ATTRIBUTION_DAYS = 7


def feature_frame(
    request_id: np.ndarray,
    user_id: np.ndarray,
    job_id: np.ndarray,
    position: np.ndarray,
    ts: np.ndarray,
    features: np.ndarray,
) -> pd.DataFrame:
    """One row per served impression: its keys and the feature row scored for it, with the
    slot it was shown in as `shown_position` (serving scored it at slot 0)."""
    frame = pd.DataFrame(np.asarray(features, dtype=np.float32), columns=list(FEATURE_NAMES))
    frame[FEATURE_NAMES[POSITION]] = np.asarray(position, dtype=np.float32)
    keys = pd.DataFrame(
        {
            "request_id": np.asarray(request_id, dtype=object),
            "user_id": np.asarray(user_id, dtype=object),
            "job_id": np.asarray(job_id, dtype=np.int64),
            "position": np.asarray(position, dtype=np.int16),
            "ts": pd.to_datetime(np.asarray(ts, dtype="datetime64[ms]")).tz_localize("UTC"),
        }
    )
    return pd.concat([keys, frame], axis=1)


def write_feature_rows(root: Path, day: date, frame: pd.DataFrame, part: str = "part-0") -> Path:
    """Write a day's served feature rows next to the events (`<root>/date=.../`)."""
    out = partition_dir(root, day)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{part}.parquet"
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    tmp.replace(path)
    return path


def read_feature_rows(
    root: Path, start: date | None = None, end: date | None = None
) -> pd.DataFrame:
    days = [
        d
        for d in partition_days(root)
        if (start is None or d >= start) and (end is None or d <= end)
    ]
    files = [f for d in days for f in sorted(partition_dir(root, d).glob("*.parquet"))]
    if not files:
        return pd.DataFrame(columns=[*KEY_COLUMNS, *FEATURE_NAMES])
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def label_rows(
    rows: pd.DataFrame, events: pd.DataFrame, window_days: int = ATTRIBUTION_DAYS
) -> pd.DataFrame:
    """Add `click` and `apply` labels: the same user acted on the same job within the window
    after the impression. Each action is credited to its latest earlier impression only."""
    out = rows.copy()
    for kind in ("click", "apply"):
        acts = events.loc[events["type"] == kind, ["user_id", "job_id", "ts"]].rename(
            columns={"ts": "act_ts"}
        )
        shown = out[["user_id", "job_id", "ts"]].reset_index()
        both = shown.merge(acts, on=["user_id", "job_id"])
        both = both[
            (both["act_ts"] >= both["ts"])
            & (both["act_ts"] <= both["ts"] + pd.Timedelta(days=window_days))
        ]
        # credit each action to the most recent impression before it
        both = both.sort_values("ts").drop_duplicates(["user_id", "job_id", "act_ts"], keep="last")
        out[kind] = np.int8(0)
        out.loc[both["index"].unique(), kind] = np.int8(1)
    return out


def build_training_set(
    events_root: Path,
    features_root: Path,
    until: date,
    since: date | None = None,
    window_days: int = ATTRIBUTION_DAYS,
    forgotten: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Served rows of [since, until] with their labels (events read up to the window's end).

    `forgotten` (user_id, deleted_at) drops every row and event of a user who was deleted, up
    to the deletion (a user who signs up again later counts from then on).
    """
    rows = drop_forgotten(read_feature_rows(features_root, since, until), forgotten)
    if rows.empty:
        raise ValueError(
            f"no served feature rows in {features_root} up to {until}; "
            "run the closed loop (or the service) first"
        )
    events = read_events(events_root, since, until + timedelta(days=window_days))
    return label_rows(rows, drop_forgotten(events, forgotten), window_days)


def drop_forgotten(frame: pd.DataFrame, forgotten: pd.DataFrame | None) -> pd.DataFrame:
    """`frame` (with user_id and ts) without the rows of deleted users before their deletion."""
    if forgotten is None or forgotten.empty or frame.empty:
        return frame
    deleted = pd.to_datetime(forgotten.set_index("user_id")["deleted_at"], utc=True)
    cutoff = frame["user_id"].map(deleted)
    ts = pd.to_datetime(frame["ts"], utc=True)
    return frame[cutoff.isna() | (ts > cutoff)].reset_index(drop=True)
