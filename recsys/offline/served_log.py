"""A synthetic served log of any size: feature rows and the applies they led to, cheaply.

The market simulator makes a realistic log but costs minutes per 100k impressions; training at
scale (the Dask path, its benchmark) needs millions of rows in seconds. This writes the same
files the service writes (`training_data.write_feature_rows`, `events.write_partition`), with
feature values drawn from a fixed distribution and applies from a known logistic model of a few
features and the shown slot, so a trained ranker has something real to find. Only the clicks and
applies are written as events: they are all labelling reads (impressions are the feature rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import write_partition
from recsys.ranking.features import FEATURE_INDEX, FEATURE_NAMES
from recsys.ranking.training_data import feature_frame, write_feature_rows

#: the ground truth: log-odds weight of each feature that drives applies
WEIGHTS = {
    "skill_overlap": 1.4,
    "taxonomy_distance": -0.9,
    "log_distance_km": -0.6,
    "salary_ratio": 0.5,
    "employer_rating": 0.4,
    "similar_to_applied": 0.7,
}
POSITION_WEIGHT = -0.05
BASE_LOG_ODDS = -3.2


@dataclass(frozen=True)
class ServedLogConfig:
    rows: int = 100_000
    days: int = 4
    list_size: int = 50
    users: int = 20_000
    jobs: int = 50_000
    parts_per_day: int = 2
    start: date = date(2026, 1, 5)
    seed: int = 0

    @property
    def last_day(self) -> date:
        return self.start + timedelta(days=self.days - 1)


def write_served_log(events_root: Path, features_root: Path, config: ServedLogConfig) -> int:
    """Write `config.rows` served rows over `config.days` days; returns the applies written."""
    rng = np.random.default_rng(config.seed)
    lists_per_part = max(1, config.rows // (config.days * config.parts_per_day * config.list_size))
    applies = 0
    for d in range(config.days):
        day = config.start + timedelta(days=d)
        for p in range(config.parts_per_day):
            frame, events = _part(rng, config, day, f"{d}-{p}", lists_per_part)
            write_feature_rows(features_root, day, frame, part=f"part-{p}")
            write_partition(events_root, day, events, part=f"part-{p}")
            applies += int((events["type"] == "apply").sum())
    return applies


def _part(
    rng: np.random.Generator, config: ServedLogConfig, day: date, tag: str, lists: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = lists * config.list_size
    request = np.repeat(np.arange(lists), config.list_size)
    position = np.tile(np.arange(config.list_size), lists)
    user = rng.integers(0, config.users, lists)[request]
    # consecutive ids from a random first one: no job twice in a list
    job = (rng.integers(0, config.jobs, lists)[request] + position) % config.jobs
    start = pd.Timestamp(day).tz_localize("UTC").as_unit("ms")
    offset = rng.integers(0, 86_000_000, lists)[request]
    ts = (start + pd.to_timedelta(offset, unit="ms")).tz_localize(None).to_numpy()
    features = rng.normal(size=(n, len(FEATURE_NAMES))).astype(np.float32)
    logit = np.full(n, BASE_LOG_ODDS) + POSITION_WEIGHT * position
    for name, weight in WEIGHTS.items():
        logit += weight * features[:, FEATURE_INDEX[name]]
    applied = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    clicked = applied | (rng.random(n) < 0.05)
    request_ids = _names(f"r{tag}-", lists)[request]
    user_ids = _names("u", config.users)[user]
    frame = feature_frame(request_ids, user_ids, job, position, ts, features)
    return frame, _actions(frame, clicked, applied, rng)


def _actions(
    frame: pd.DataFrame, clicked: np.ndarray, applied: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Click and apply events a few minutes after the impressions that led to them."""
    parts = []
    for kind, mask in (("click", clicked), ("apply", applied)):
        acted = frame.loc[mask, ["user_id", "job_id", "request_id", "position", "ts"]]
        delay = pd.to_timedelta(rng.integers(60_000, 3_600_000, len(acted)), unit="ms")
        parts.append(acted.assign(ts=acted["ts"] + delay, type=kind))
    events = pd.concat(parts, ignore_index=True)
    events["event_id"] = (
        events["type"] + "-" + events["request_id"] + "-" + events["job_id"].astype(str)
    )
    return events


def _names(prefix: str, n: int) -> np.ndarray:
    """`prefix0 .. prefix{n-1}` as an object array, to be indexed by integer ids."""
    return (prefix + pd.Series(np.arange(n)).astype(str)).to_numpy(dtype=object)
