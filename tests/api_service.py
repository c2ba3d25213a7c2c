"""A RecommendationService over the small test market on real stores, for the API tests.

The market's postings and seekers are published into a catalog database first, as the simulator
does, and the service is built from that database the way `recsys serve` builds it; the clock is
held at the market's simulated now, so its postings are open.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from redis_service import REDIS_URL, redis_client_or_skip

from feature_store.backends import open_store, open_stream
from recsys.catalog_db import CatalogStore
from recsys.market.market import Market
from recsys.market.publish import publish_postings, publish_seekers
from recsys.offline.market_service import market_now
from recsys.recall.encoder import TitleEncoder
from recsys.service.loader import build_service
from recsys.service.service import RecommendationService
from recsys.settings import get_settings

ADMIN_KEY = "test-admin-key"
SETTINGS_UPDATE = {"recall_k": 1_500, "coarse_k": 200, "impression_flush_s": 0.2}


def published_catalog(market: Market, url: str) -> CatalogStore:
    """A migrated catalog database holding the market's postings and seekers."""
    store = CatalogStore.open(url, migrate=True)
    now = datetime(2026, 1, 1)
    if store.postings.count() == 0:
        publish_postings(store, market.jobs, now)
        publish_seekers(store, market.seekers, now)
    return store


def make_service(
    market: Market, kind: str, folder: Path, catalog_url: str | None = None
) -> RecommendationService:
    settings = get_settings().model_copy(update=SETTINGS_UPDATE)
    url = catalog_url or f"sqlite:///{folder / 'catalog.sqlite'}"
    catalog = published_catalog(market, url)
    if kind == "redis":
        redis_client_or_skip().close()
        store = open_store("redis", redis_url=REDIS_URL)
        stream = open_stream("redis", redis_url=REDIS_URL)
    else:
        store = open_store("sqlite", sqlite_path=folder / "store.sqlite")
        stream = open_stream("sqlite", sqlite_path=folder / "stream.sqlite")
    now = market_now(market)
    return build_service(
        settings,
        catalog,
        TitleEncoder.load("base"),
        store,
        stream,
        log_dir=folder,
        clock=lambda: now,
    )
