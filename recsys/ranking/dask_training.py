"""The training set and the GBDT fit on a Dask cluster, used when `RECSYS_DASK_SCHEDULER` is set.

The same steps as in-process, spread over the workers: the served feature rows are read as a
dask.dataframe over their daily Parquet partitions, shuffled so that every impression of one
seeker lands in one partition, and each partition is labelled by the in-process functions
(`training_data.drop_forgotten`, `training_data.label_rows`) with `map_partitions`. Crediting is
per (seeker, job), so labelling a seeker's whole history at once gives exactly the in-process
labels, and a logged list (one request, one seeker) never straddles two partitions, which
LightGBM's and XGBoost's Dask rankers need for their groups. No feature is recomputed: the rows
are the ones `features.job_features` produced when serving.

LightGBM trains with `lightgbm.DaskLGBMClassifier` / `DaskLGBMRanker` and XGBoost with
`xgboost.dask`; the booster they return is compiled and saved like an in-process one
(`ApplyRateRanker.fit_dask`), so serving cannot tell where a model was trained.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from feature_store.events import partition_days, partition_dir, read_events
from recsys.ranking.features import FEATURE_NAMES, POSITION, SERVING_POSITION
from recsys.ranking.training_data import ATTRIBUTION_DAYS, drop_forgotten, label_rows

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

#: the column the Dask rankers group lists by: (partition number << LIST_BITS) + the list's rank
#: in it; XGBoost reads it as uint32
QID = "qid"
LIST_BITS = 20
LABEL_EVENT_TYPES = ("click", "apply")


def connect(scheduler: str) -> Client:
    """A client of the Dask scheduler at `scheduler` (e.g. tcp://dask-scheduler:8786)."""
    from distributed import Client

    try:
        return Client(scheduler, timeout="20s")
    except OSError as error:
        raise ConnectionError(
            f"no Dask scheduler answers at {scheduler!r} (RECSYS_DASK_SCHEDULER): {error}; "
            "start one or unset RECSYS_DASK_SCHEDULER to train in-process"
        ) from error


def feature_files(root: Path, since: date | None, until: date) -> list[str]:
    """The served-row Parquet files of the days in [since, until]."""
    days = [d for d in partition_days(root) if (since is None or d >= since) and d <= until]
    return [str(f) for d in days for f in sorted(partition_dir(root, d).glob("*.parquet"))]


def _label_partition(
    rows: pd.DataFrame,
    events: pd.DataFrame,
    forgotten: pd.DataFrame | None,
    window_days: int,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One partition's rows, labelled, sorted by list so each list's rows are contiguous, with
    a list id that grows across partitions (the partition's number in the high bits), so the
    rankers see their lists in order without sorting again."""
    rows = drop_forgotten(rows.reset_index(drop=True), forgotten)
    labelled = label_rows(rows, drop_forgotten(events, forgotten), window_days)
    labelled = labelled.sort_values(["request_id", "position"], kind="stable")
    number = 0 if partition_info is None else int(partition_info["number"])
    local = pd.factorize(labelled["request_id"], sort=True)[0].astype(np.int64)
    if len(local) and (local[-1] >= 1 << LIST_BITS or number >= 1 << (32 - LIST_BITS)):
        raise ValueError(
            f"partition {number} holds {local[-1] + 1} lists; list ids fit 32 bits only for up "
            f"to {1 << (32 - LIST_BITS)} partitions of {1 << LIST_BITS} lists: repartition"
        )
    labelled[QID] = (np.int64(number) << np.int64(LIST_BITS)) + local
    return labelled.reset_index(drop=True)


def build_training_set_dask(
    events_root: Path,
    features_root: Path,
    until: date,
    since: date | None = None,
    window_days: int = ATTRIBUTION_DAYS,
    forgotten: pd.DataFrame | None = None,
    partitions: int | None = None,
) -> dd.DataFrame:
    """`training_data.build_training_set` as a lazy dask.dataframe, one seeker per partition.

    The labelling events (clicks and applies only, a few percent of the log) are read on the
    client and broadcast; the served rows stay on the workers. `partitions` sets how many
    partitions the seekers are hashed into (default: as many as there are files).
    """
    import dask.dataframe as dd

    files = feature_files(features_root, since, until)
    if not files:
        raise ValueError(
            f"no served feature rows in {features_root} up to {until}; "
            "run the closed loop (or the service) first"
        )
    events = read_events(events_root, since, until + timedelta(days=window_days))
    events = events[events["type"].isin(LABEL_EVENT_TYPES)].reset_index(drop=True)
    rows = dd.read_parquet(files)
    rows = rows.shuffle("user_id", npartitions=partitions or rows.npartitions)
    meta = rows._meta.assign(click=np.int8(0), apply=np.int8(0), **{QID: np.int64(0)})
    return rows.map_partitions(
        _label_partition,
        _broadcast(events),
        None if forgotten is None else _broadcast(forgotten),
        window_days,
        meta=meta,
        align_dataframes=False,
    )


def _broadcast(frame: pd.DataFrame) -> Any:
    """`frame` copied to every worker once (a future), not embedded in each task of the graph;
    with no distributed client (the local scheduler), a delayed object does the same job."""
    import dask

    try:
        from distributed import default_client

        return default_client().scatter(frame, broadcast=True)
    except ValueError:  # no client: the threaded or synchronous scheduler
        return dask.delayed(frame)


def split_by_day(data: dd.DataFrame, until: date) -> tuple[dd.DataFrame, pd.DataFrame]:
    """(train on the workers, validation rows on the client): the rows served on `until` are
    held out, as `train.split_training_set` does in-process. The set is persisted on the
    workers first, so the shuffle runs once."""
    data = data.persist()
    start = pd.Timestamp(until).tz_localize("UTC")
    held = (data["ts"] >= start) & (data["ts"] < start + pd.Timedelta(days=1))
    valid = data[held].compute()
    if valid.empty or len(valid) == len(data):
        raise ValueError(
            f"the Dask training set needs served rows both on {until} (held out) and before it"
        )
    return data[~held], valid.reset_index(drop=True)


def design_frame(rows: dd.DataFrame, position: str) -> dd.DataFrame:
    """`train.design_matrix` on the workers: the feature columns as float32, the shown slot
    held at the serving slot when `position == "ignore"`."""
    X = rows[list(FEATURE_NAMES)].astype(np.float32)
    if position == "ignore":
        X = X.assign(**{FEATURE_NAMES[POSITION]: np.float32(SERVING_POSITION)})
    return X
