"""A RecommendationService over the small test market on a real store, for the API tests."""

from __future__ import annotations

from pathlib import Path

from redis_service import REDIS_URL, redis_client_or_skip

from feature_store.online import open_store
from feature_store.stream import open_stream
from recsys.market.market import Market
from recsys.pipeline.build import build_recommender
from recsys.recall.encoder import TitleEncoder
from recsys.service.loader import market_clock
from recsys.service.seekers import SeekerDirectory
from recsys.service.service import RecommendationService
from recsys.settings import get_settings

ADMIN_KEY = "test-admin-key"


def make_service(market: Market, kind: str, folder: Path) -> RecommendationService:
    settings = get_settings().model_copy(update={"recall_k": 1_500, "coarse_k": 200})
    rec = build_recommender(
        market.jobs, market.taxonomy, TitleEncoder.load("base"), settings=settings
    )
    if kind == "redis":
        redis_client_or_skip().close()
        store = open_store("redis", redis_url=REDIS_URL)
        stream = open_stream("redis", redis_url=REDIS_URL)
    else:
        store = open_store("sqlite", sqlite_path=folder / "store.sqlite")
        stream = open_stream("sqlite", sqlite_path=folder / "stream.sqlite")
    return RecommendationService(
        rec,
        SeekerDirectory(market),
        store,
        stream,
        features_root=folder / "features",
        events_root=folder / "events",
        clock=market_clock(market),
        model_versions={"encoder": "base", "ranker": "coarse-only"},
        impression_flush_s=0.2,
    )
