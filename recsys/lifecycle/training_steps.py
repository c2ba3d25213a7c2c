"""The retrain's steps that make candidates: the day's events, the training set, one GBDT kind."""

from __future__ import annotations

from typing import Any

import pandas as pd

from feature_store.backends import open_stream
from feature_store.events import read_events
from recsys.lifecycle.retrain_job import RetrainJob
from recsys.ranking.apply_rate_ranker import load_ranker
from recsys.ranking.train import (
    KINDS,
    RankerTrainingConfig,
    design_matrix,
    split_training_set,
    train_one,
)
from recsys.ranking.training_data import build_training_set


def extract(job: RetrainJob) -> dict[str, Any]:
    """Drain accepted events into the daily partitions, then count the day's events."""
    s = job.settings
    stream = open_stream(s.online_store, sqlite_path=s.event_stream_path, redis_url=s.redis_url)
    try:
        drained = stream.drain(job.events_root)
    finally:
        stream.close()
    events = read_events(job.events_root, job.day, job.day)
    if events.empty:
        raise ValueError(f"no events logged on {job.day} under {job.events_root}")
    counts = {str(k): int(v) for k, v in events["type"].value_counts().items()}
    return job.write("extract", {"day": job.day, "drained": drained, "events": counts})


def training_set(job: RetrainJob) -> dict[str, Any]:
    """Served rows up to the day with their apply labels, saved for the training tasks."""
    data = build_training_set(
        job.events_root, job.features_root, job.day, forgotten=job.forgotten_users()
    )
    job.folder.mkdir(parents=True, exist_ok=True)
    data.to_parquet(job.training_set_path, index=False)
    return job.write(
        "training_set",
        {
            "rows": len(data),
            "requests": int(data["request_id"].nunique()),
            "applies": int(data["apply"].sum()),
            "first_day": data["ts"].min().date(),
            "last_day": data["ts"].max().date(),
        },
    )


def train(job: RetrainJob, kind: str) -> dict[str, Any]:
    """Train one kind on the training set (the day itself held out for validation)."""
    if kind not in KINDS:
        raise ValueError(f"unknown ranker kind {kind!r}; expected one of {KINDS}")
    data = pd.read_parquet(job.training_set_path)
    config = RankerTrainingConfig(seed=job.settings.seed)
    rows, valid = split_training_set(data, job.day, config.seed)
    out = job.candidate_dir(kind)
    metrics = train_one(kind, rows, valid, out, config)
    scores = load_ranker(out).predict(design_matrix(valid, "ignore"))
    pd.DataFrame({"score": scores, "apply": valid["apply"].to_numpy()}).to_parquet(
        job.validation_scores(kind), index=False
    )
    payload = {
        "kind": kind,
        "params": {
            "n_estimators": config.n_estimators,
            "learning_rate": config.learning_rate,
            "objective": config.objective,
            "position": config.position,
            "seed": config.seed,
        },
        "train_rows": len(rows),
        "valid_rows": len(valid),
        "validation": metrics,
    }
    return job.write(f"train_{kind}", payload)
