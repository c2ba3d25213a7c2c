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
    train_one_dask,
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
    """Served rows up to the day with their apply labels, saved for the training tasks (one
    Parquet file in-process; one file per partition, written by the workers, on Dask)."""
    job.folder.mkdir(parents=True, exist_ok=True)
    if job.settings.dask_scheduler:
        return job.write("training_set", _training_set_on_dask(job, job.settings.dask_scheduler))
    data = build_training_set(
        job.events_root, job.features_root, job.day, forgotten=job.forgotten_users()
    )
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


def _training_set_on_dask(job: RetrainJob, scheduler: str) -> dict[str, Any]:
    import dask

    from recsys.ranking.dask_training import build_training_set_dask, connect

    with connect(scheduler):
        data = build_training_set_dask(
            job.events_root, job.features_root, job.day, forgotten=job.forgotten_users()
        ).persist()
        data.to_parquet(job.training_set_path, write_index=False, overwrite=True)
        rows, requests, applies, first, last = dask.compute(
            data.shape[0],
            data["request_id"].nunique(),
            data["apply"].sum(),
            data["ts"].min(),
            data["ts"].max(),
        )
    return {
        "rows": int(rows),
        "requests": int(requests),
        "applies": int(applies),
        "first_day": first.date(),
        "last_day": last.date(),
        "trained_on": scheduler,
    }


def train(job: RetrainJob, kind: str) -> dict[str, Any]:
    """Train one kind on the training set (the day itself held out for validation), on the
    Dask cluster when `RECSYS_DASK_SCHEDULER` is set."""
    if kind not in KINDS:
        raise ValueError(f"unknown ranker kind {kind!r}; expected one of {KINDS}")
    config = RankerTrainingConfig(seed=job.settings.seed)
    out = job.candidate_dir(kind)
    if job.settings.dask_scheduler:
        n_train, valid, metrics = _train_on_dask(job, kind, config, job.settings.dask_scheduler)
    else:
        data = pd.read_parquet(job.training_set_path)
        rows, valid = split_training_set(data, job.day, config.seed)
        n_train, metrics = len(rows), train_one(kind, rows, valid, out, config)
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
        "train_rows": n_train,
        "valid_rows": len(valid),
        "validation": metrics,
    }
    return job.write(f"train_{kind}", payload)


def _train_on_dask(
    job: RetrainJob, kind: str, config: RankerTrainingConfig, scheduler: str
) -> tuple[int, pd.DataFrame, dict[str, Any]]:
    """(train rows, validation rows, metrics) of one kind fit on the cluster from the
    partitioned training set."""
    import dask.dataframe as dd

    from recsys.ranking.dask_training import connect, split_by_day

    with connect(scheduler) as client:
        train, valid = split_by_day(dd.read_parquet(job.training_set_path), job.day)
        metrics = train_one_dask(kind, client, train, valid, job.candidate_dir(kind), config)
        return int(len(train)), valid, metrics
