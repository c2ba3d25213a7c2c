"""Build the running service from settings: catalog, encoder, ranker, stores, clock.

The catalog database is what the service serves (postings, seeker profiles); the log folder
(`events/`, `features/`) is where served lists and events land and training reads. On a cold
start (an online store that was never filled from this log) the store is materialized from the
Parquet events first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feature_store.backends import guarded, open_store, open_stream
from feature_store.definitions import POPULARITY_WINDOW_DAYS
from feature_store.events import partition_days
from feature_store.guarded import GuardedStream
from feature_store.materialize import materialize
from feature_store.online import OnlineStore
from feature_store.spool import EventSpool
from feature_store.stream import EventStream
from recsys.catalog_db import CatalogStore
from recsys.core.folder import EMPLOYER_EVENTS_DIR, EVENTS_DIR, FEATURES_DIR
from recsys.data.taxonomy import load_taxonomy
from recsys.pipeline.build import serving_encoder
from recsys.pipeline.recommender import Recommender
from recsys.ranking.fine import ApplyRateModel
from recsys.ranking.train import load_selected
from recsys.recall.encoder import TitleEncoder
from recsys.service.candidates import LazyCandidateFinder
from recsys.service.catalog_feed import CatalogFeed
from recsys.service.clock import Clock, wall_clock
from recsys.service.periodic import Periodic
from recsys.service.postings import LivePostings
from recsys.service.seekers import SeekerDirectory
from recsys.service.service import RecommendationService
from recsys.service.serving_pipeline import encoder_label, serving_pipeline
from recsys.service.users import UserAccounts
from recsys.settings import Settings

log = logging.getLogger(__name__)

#: under the log folder: events taken while the event stream's server was down, until replayed.
SPOOL_FILE = "spool/events.sqlite"


def folder_digest(folder: Path) -> str:
    """A short hash of a model folder's files (names and bytes): its version in responses."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


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


def open_serving_stores(settings: Settings) -> tuple[OnlineStore, EventStream]:
    """The online store and event stream the service runs on: a Redis pair with the short
    serving timeouts behind one circuit breaker (reads degrade while it is down), or SQLite."""
    redis_options = {
        "timeout_s": settings.redis_connect_timeout_s,
        "socket_timeout_s": settings.redis_socket_timeout_s,
    }
    store = open_store(
        settings.online_store,
        sqlite_path=settings.store_path,
        redis_url=settings.redis_url,
        redis_options=redis_options,
    )
    stream = open_stream(
        settings.online_store,
        sqlite_path=settings.event_stream_path,
        redis_url=settings.redis_url,
        redis_options=redis_options,
    )
    return guarded(settings.online_store, store, stream, cooldown_s=settings.redis_cooldown_s)


@dataclass
class Preloaded:
    """The big, read-mostly part of a service, read before any store is opened or thread
    started: loaded once in a server's parent process, it is shared copy-on-write by the
    workers forked from it (`recsys.service.workers`)."""

    catalog_store: CatalogStore
    encoder: TitleEncoder
    #: coarse-only: each worker puts its ranker in (the registry is a connection)
    recommender: Recommender
    #: the change sequence the catalog is current to
    seq: int


def preload(settings: Settings) -> Preloaded:
    """The catalog database, the serving encoder, and the pipeline over its postings."""
    catalog_store = CatalogStore.open(settings.catalog_url, open_days=settings.posting_open_days)
    encoder = TitleEncoder.load(serving_encoder(settings))
    taxonomy = load_taxonomy(settings.data_dir)
    recommender, rows = serving_pipeline(settings, catalog_store, encoder, taxonomy, wall_clock)
    return Preloaded(catalog_store, encoder, recommender, rows.seq)


def load_service(settings: Settings, preloaded: Preloaded | None = None) -> RecommendationService:
    """Everything the API needs, loaded and warmed; raises with a message naming what is missing.

    The catalog and the seeker profiles come from the catalog database (RECSYS_DATABASE_URL),
    the offline log (events/, features/) is `settings.event_log_dir`, the clock the wall clock.
    `preloaded` (`preload`, done in the process the API's workers fork from) skips that part.
    """
    preloaded = preloaded or preload(settings)
    catalog_store, encoder = preloaded.catalog_store, preloaded.encoder
    model: ApplyRateModel | None = None
    ranker_version = "coarse-only"
    follower_args = _champion(settings)
    if follower_args is not None and follower_args[1] is not None:
        champion = follower_args[1]
        model, ranker_version = champion.model, champion.label
    elif settings.ranker_dir is not None:
        kind, model = load_selected(settings.ranker_dir)
        ranker_version = f"{kind}:{folder_digest(settings.ranker_dir / kind)}"
    store, stream = open_serving_stores(settings)
    log_dir = settings.event_log_dir
    n = materialize_once(store, log_dir / EVENTS_DIR, f"{log_dir.resolve()}")
    if n:
        log.info("materialized %d events from %s into the online store", n, log_dir / EVENTS_DIR)
    service = build_service(
        settings,
        catalog_store,
        encoder,
        store,
        stream,
        log_dir=log_dir,
        clock=wall_clock,
        ranker=model,
        ranker_version=ranker_version,
        preloaded=preloaded,
    )
    service.warm_up()
    if follower_args is not None:
        from recsys.service.champion import ChampionFollower

        registry, champion = follower_args
        service.follower = ChampionFollower(
            service, registry, settings.model_poll_s, champion.version if champion else None
        )
        service.candidate_follower = _candidate_follower(service, registry, settings)
        if "encoder_model" not in settings.model_fields_set:
            from recsys.service.encoder_follower import EncoderFollower

            # A pinned RECSYS_ENCODER_MODEL is the operator's choice and stays. Otherwise no
            # version is loaded yet: the first poll adopts the champion, which costs a download
            # when it is the encoder already serving (the demo registers the one it serves).
            service.encoder_follower = EncoderFollower(service, registry, settings, None)
    return service


def build_service(
    settings: Settings,
    catalog_store: CatalogStore,
    encoder: TitleEncoder,
    store: OnlineStore,
    stream: EventStream,
    *,
    log_dir: Path,
    clock: Clock,
    ranker: ApplyRateModel | None = None,
    ranker_version: str = "coarse-only",
    preloaded: Preloaded | None = None,
) -> RecommendationService:
    """The service over the catalog database's postings and profiles (derived data read back
    or computed; or `preloaded`), the online store and stream, and the log folder; not yet
    warmed."""
    if preloaded is None:
        taxonomy = load_taxonomy(settings.data_dir)
        recommender, rows = serving_pipeline(
            settings, catalog_store, encoder, taxonomy, clock, ranker=ranker
        )
        seq = rows.seq
    else:
        recommender = preloaded.recommender.with_ranker(ranker)
        taxonomy, seq = recommender.catalog.taxonomy, preloaded.seq
    occupations = recommender.occupations
    versions = {
        "encoder": encoder_label(encoder),
        "ranker": ranker_version,
        "index": recommender.index.kind,
        "catalog": f"seq {seq}",
    }
    # Only a stream on a server can go away; an embedded one is a local file already.
    spool = EventSpool(log_dir / SPOOL_FILE) if isinstance(stream, GuardedStream) else None
    lock = threading.Lock()
    feed = CatalogFeed(catalog_store, recommender, occupations, taxonomy, seq, lock, clock)
    service = RecommendationService(
        recommender,
        SeekerDirectory(catalog_store.seekers),
        store,
        stream,
        postings=LivePostings(recommender, catalog_store, feed, clock, lock),
        users=UserAccounts(catalog_store.seekers, store, clock),
        features_root=log_dir / FEATURES_DIR,
        events_root=log_dir / EVENTS_DIR,
        clock=clock,
        model_versions=versions,
        cache_ttl_s=settings.cache_ttl_s,
        impression_flush_s=settings.impression_flush_s,
        max_concurrency=settings.api_max_concurrency,
        spool=spool,
    )
    service.catalog_poller = Periodic(
        "catalog-feed", settings.catalog_poll_s, feed.poll, "applying catalog changes failed"
    )
    service.candidate_finder = LazyCandidateFinder(
        catalog_store.seekers.frame,
        taxonomy,
        encoder,
        occupations,
        [log_dir / EVENTS_DIR, log_dir / EMPLOYER_EVENTS_DIR],
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


def _candidate_follower(service: RecommendationService, registry: Any, settings: Settings) -> Any:
    """Load the candidate-ranker champion into the service's finder now and follow it."""
    from recsys.registry.mlflow_registry import RegistryUnavailableError
    from recsys.service.candidates import CandidateChampionFollower, load_candidate_champion

    loaded_version = None
    try:
        loaded = load_candidate_champion(registry)
    except (RegistryUnavailableError, ValueError, OSError) as exc:
        log.warning("no candidate-ranker champion loaded at start (%s); coarse rules serve", exc)
        loaded = None
    if loaded is not None:
        model, loaded_version = loaded
        service.candidate_finder.swap_model(model, f"candidate-ranker:v{loaded_version}")
    return CandidateChampionFollower(
        service.candidate_finder, registry, settings.model_poll_s, loaded_version
    )


class Maintenance:
    """Every `interval_s`: drain the event stream into the Parquet log and re-read popularity."""

    def __init__(self, service: RecommendationService, interval_s: float):
        self.service = service
        self.interval_s = interval_s
        self._thread = Periodic(
            "maintenance", interval_s, self.run_once, "maintenance round failed"
        )

    def start(self) -> Maintenance:
        self._thread.start()
        return self

    def run_once(self) -> int:
        """One round; returns the events drained."""
        self.service.impressions.flush()
        drained = self.service.drain()
        self.service.refresh_popularity()
        return drained

    def stop(self) -> None:
        self._thread.stop()
