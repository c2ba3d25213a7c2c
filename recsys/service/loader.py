"""Build the running service from settings: catalog, encoder, ranker, stores, clock.

A market folder is what the service serves (its jobs as the catalog, its seekers as the profile
store, `events/` and `features/` as the offline log). On a cold start (an online store that was
never filled from this log) the store is materialized from the Parquet events first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from feature_store.definitions import POPULARITY_WINDOW_DAYS
from feature_store.events import partition_days
from feature_store.materialize import materialize
from feature_store.online import OnlineStore, open_store
from feature_store.stream import open_stream
from recsys.data.taxonomy import load_taxonomy
from recsys.market.market import Market
from recsys.pipeline.build import build_recommender, catalog_digest
from recsys.pipeline.serving import market_now
from recsys.ranking.train import load_selected
from recsys.recall.encoder import TitleEncoder
from recsys.service.seekers import SeekerDirectory
from recsys.service.service import Clock, RecommendationService
from recsys.settings import Settings

log = logging.getLogger(__name__)


def market_clock(market: Market) -> Clock:
    """Simulated time: the market's `now` when the service started, advancing in real time.

    The market's postings expire in simulated time; the system clock would find them all closed.
    """
    start = market_now(market)
    t0 = time.monotonic()

    def now() -> np.datetime64:
        return start + np.timedelta64(int(time.monotonic() - t0), "s")

    return now


def folder_digest(folder: Path) -> str:
    """A short hash of a model folder's files (names and bytes): its version in responses."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def serving_encoder(settings: Settings) -> str:
    """The encoder to serve: the configured one (RECSYS_ENCODER_MODEL), else the demo's
    fine-tuned one when the demo has trained one, else the base model."""
    demo = settings.artifacts_dir / "demo" / "encoder"
    configured = "encoder_model" in settings.model_fields_set
    if not configured and (demo / "recsys_encoder.json").is_file():
        return str(demo)
    return settings.encoder_model


def materialize_once(store: OnlineStore, events_root: Path, name: str) -> int:
    """Fill the store from the event log unless it was already filled from `name`."""
    days = partition_days(events_root)
    marker = f"materialized:{name}"
    if not days or store.get_marker(marker) is not None:
        return 0
    span = max((days[-1] - days[0]).days + 1, POPULARITY_WINDOW_DAYS)
    n = materialize(store, events_root, days[-1], days=span)
    store.set_marker(marker, days[-1].isoformat())
    return n


def load_service(settings: Settings) -> RecommendationService:
    """Everything the API needs, loaded and warmed; raises with a message naming what is missing."""
    folder = settings.market_dir
    if not (folder / "market.json").is_file():
        raise FileNotFoundError(
            f"no market at {folder}: run `make demo` or `recsys simulate --out {folder}`, "
            "or point RECSYS_SERVE_MARKET_DIR at one"
        )
    taxonomy = load_taxonomy(settings.data_dir)
    market = Market.load(folder, taxonomy)
    encoder = TitleEncoder.load(serving_encoder(settings))
    model: object | None = None
    ranker_version = "coarse-only"
    follower_args = _champion(settings)
    if follower_args is not None and follower_args[1] is not None:
        champion = follower_args[1]
        model, ranker_version = champion.model, champion.label
    elif settings.ranker_dir is not None:
        kind, model = load_selected(settings.ranker_dir)
        ranker_version = f"{kind}:{folder_digest(settings.ranker_dir / kind)}"
    recommender = build_recommender(
        market.jobs,
        taxonomy,
        encoder,
        ranker=model,  # type: ignore[arg-type]
        settings=settings,
    )
    store = open_store(
        settings.online_store, sqlite_path=settings.store_path, redis_url=settings.redis_url
    )
    stream = open_stream(
        settings.online_store,
        sqlite_path=settings.event_stream_path,
        redis_url=settings.redis_url,
    )
    n = materialize_once(store, folder / "events", f"{folder.resolve()}")
    if n:
        log.info("materialized %d events from %s into the online store", n, folder / "events")
    versions = {
        "encoder": f"{encoder.name}:{encoder.fingerprint[:12]}",
        "ranker": ranker_version,
        "index": recommender.stage("recall").index.kind,  # type: ignore[attr-defined]
        "catalog": catalog_digest(market.jobs)[:12],
    }
    service = RecommendationService(
        recommender,
        SeekerDirectory(market),
        store,
        stream,
        features_root=folder / "features",
        events_root=folder / "events",
        clock=market_clock(market),
        model_versions=versions,
        cache_ttl_s=settings.cache_ttl_s,
        impression_flush_s=settings.impression_flush_s,
        max_concurrency=settings.api_max_concurrency,
    )
    service.warm_up()
    if follower_args is not None:
        from recsys.service.champion import ChampionFollower

        registry, champion = follower_args
        service.follower = ChampionFollower(
            service, registry, settings.model_poll_s, champion.version if champion else None
        )
    return service


def _champion(settings: Settings) -> tuple[Any, Any] | None:
    """(registry, champion or None) when the service follows a registry, else None.

    An unreachable registry at start is logged and the ranker folder serves instead.
    """
    if not settings.serve_from_registry:
        return None
    from recsys.service.champion import load_champion, registry_configured

    if not registry_configured(settings):
        return None
    from recsys.registry.mlflow_registry import ModelRegistry, RegistryUnavailableError

    registry = ModelRegistry.from_settings(settings)
    try:
        return registry, load_champion(registry)
    except RegistryUnavailableError as exc:
        log.warning("model registry unreachable at start (%s); serving the ranker folder", exc)
        return registry, None


class Maintenance:
    """Every `interval_s`: drain the event stream into the Parquet log and re-read popularity."""

    def __init__(self, service: RecommendationService, interval_s: float):
        self.service = service
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="maintenance", daemon=True)

    def start(self) -> Maintenance:
        self._thread.start()
        return self

    def run_once(self) -> int:
        """One round; returns the events drained."""
        self.service.impressions.flush()
        drained = self.service.drain()
        self.service.refresh_popularity()
        return drained

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # a failed round is retried next interval; serving goes on
                log.exception("maintenance round failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)
