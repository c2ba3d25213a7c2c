"""The closed loop and the service build the same feature rows from the same events.

The loop trains the ranker on rows it served itself; the service serves rows built from its online
store. If the two computed history or popularity differently (all-time counts against the
store's 7-day window, last activity from impressions against every event), the model would be
trained on rows the service never produces. Both sides here get one event log (the small
market's three days plus a copy eight days older, which the popularity window must leave out)
and the fine stage's feature rows are compared for the same requests.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import small_recommender

from feature_store.backends import open_store, open_stream
from feature_store.events import read_events
from recsys.core.context import History, request_context
from recsys.core.profiles import seeker_profile
from recsys.market.market import Market
from recsys.offline.closed_loop import RecommenderPolicy
from recsys.pipeline.recommender import Recommender
from recsys.ranking.features import FEATURE_INDEX, job_features
from recsys.service.ingestion import EventIngestion
from recsys.service.seekers import request_history


def _event_log(folder: Path) -> pd.DataFrame:
    """The market's events and a copy of them eight days earlier, oldest first."""
    events = read_events(folder / "events", None, None)
    old = events.copy()
    old["ts"] = old["ts"] - pd.Timedelta(days=8)
    old["event_id"] = "old-" + old["event_id"].astype(str)
    old["request_id"] = "old-" + old["request_id"].astype(str)
    return pd.concat([old, events], ignore_index=True).sort_values("ts", kind="stable")


def _rows(rec: Recommender, market: Market, row: int, now: np.datetime64, history: History):
    ctx = request_context(
        seeker_profile(market.seekers, row),
        now,
        k=10,
        user_id=str(market.seekers["user_id"].iat[row]),
        history=history,
    )
    cands = rec.run_through(ctx, "coarse")
    return cands.rows, job_features(ctx, rec.catalog, cands)


def test_closed_loop_and_service_build_the_same_feature_rows(
    small_market: tuple[Market, Path], tmp_path: Path
) -> None:
    market, folder = small_market
    log = _event_log(folder)
    start = market.config.start
    day_of = (log["ts"].dt.tz_convert(None).dt.normalize() - pd.Timestamp(start)).dt.days
    last_day = int(day_of.max())
    now = np.datetime64(start + timedelta(days=last_day + 1), "s") + np.timedelta64(12, "h")

    loop_rec, service_rec = small_recommender(market), small_recommender(market)
    policy = RecommenderPolicy(loop_rec, tmp_path / "features")
    store = open_store("sqlite", sqlite_path=tmp_path / "online.db")
    ingestion = EventIngestion(
        service_rec.catalog,
        store,
        open_stream("sqlite", sqlite_path=tmp_path / "stream.db"),
        tmp_path / "events",
        clock=lambda: now,
    )
    for day, frame in log.groupby(day_of, sort=True):
        policy.observe(market, int(day), frame)
        ingestion.ingest(frame)
    ingestion.refresh_popularity()

    windowed = loop_rec.catalog.popularity.impressions.sum()
    assert 0 < windowed < (log["type"] == "impression").sum()  # the old copy fell out
    np.testing.assert_array_equal(
        loop_rec.catalog.popularity.impressions, service_rec.catalog.popularity.impressions
    )
    active = log.loc[log["type"].isin(["click", "apply"]), "user_id"].unique()[:8]
    idle = np.setdiff1d(market.seekers["user_id"].to_numpy(), log["user_id"].unique())[:2]
    seeker_row = pd.Series(np.arange(len(market.seekers)), index=market.seekers["user_id"])
    first_seen = market.seekers["first_seen"].to_numpy("datetime64[s]")
    for user in [*active, *idle]:
        row = int(seeker_row[user])
        loop_history = policy.state.history(market.seekers, row, now)
        service_history = request_history(store.seeker_history(str(user)), now, first_seen[row])
        loop_rows, loop_features = _rows(loop_rec, market, row, now, loop_history)
        service_rows, service_features = _rows(service_rec, market, row, now, service_history)
        np.testing.assert_array_equal(loop_rows, service_rows)
        np.testing.assert_array_equal(loop_features, service_features)
    assert loop_features[:, FEATURE_INDEX["log_impressions"]].max() > 0
