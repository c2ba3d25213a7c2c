"""The impression log: served lists become impression events and the feature rows scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.ranking.features import FEATURE_NAMES
from recsys.ranking.training_data import read_feature_rows
from recsys.service.impression_log import ImpressionLog, ServedList


def _served(request_id: str, job_ids: list[int]) -> ServedList:
    """An empty list's feature block is flat here: with no rows, nothing fixes its width."""
    shape = (len(job_ids), len(FEATURE_NAMES)) if job_ids else (0,)
    features = np.random.default_rng(0).random(shape)
    return ServedList(
        request_id=request_id,
        user_id="u1",
        ts=np.datetime64("2026-12-03T10:00:00", "ms"),
        job_ids=np.asarray(job_ids, np.int64),
        features=features.astype(np.float32),
    )


def test_an_empty_list_in_the_batch_loses_none_of_the_others(tmp_path: Path) -> None:
    ingested: list[pd.DataFrame] = []
    log = ImpressionLog(ingested.append, tmp_path / "features", flush_s=3_600)
    try:
        log.log(_served("r-empty", []))
        log.log(_served("r-full", [7, 9]))
        assert log.flush() == 2
    finally:
        log.close()
    assert log.failures == 0 and log.logged == 2
    events = pd.concat(ingested)
    assert events["job_id"].tolist() == [7, 9] and set(events["request_id"]) == {"r-full"}
    rows = read_feature_rows(tmp_path / "features")
    assert rows["job_id"].tolist() == [7, 9]
    assert rows["position"].tolist() == [0, 1]


def test_a_batch_of_empty_lists_writes_nothing(tmp_path: Path) -> None:
    ingested: list[pd.DataFrame] = []
    log = ImpressionLog(ingested.append, tmp_path / "features", flush_s=3_600)
    try:
        log.log(_served("r-empty", []))
        assert log.flush() == 0
    finally:
        log.close()
    assert log.failures == 0 and not ingested
    assert not (tmp_path / "features").exists()
