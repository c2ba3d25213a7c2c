"""The recommendation service: requests in, explained lists out, events and postings kept live.

It wraps one Recommender with what a running service needs around it, each idea in its own
module: requests built from stored or inline profiles (`requests`), the result and query-vector
caches (`caches`), the impression log (`impression_log`), event ingestion and popularity
(`ingestion`), live postings (`postings`) and response shaping (`responses`). A new ranker
(`swap_ranker`) or a new title encoder with its own index (`swap_encoder`) is swapped in with one
assignment of the pipeline together with its model versions, so a request reads both once and
never mixes an old and a new model. The API routers call these methods and do nothing else.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feature_store.guarded import GuardedOnlineStore
from feature_store.online import OnlineStore
from feature_store.spool import EventSpool
from feature_store.stream import EventStream
from recsys.core.catalog import ServingCatalog
from recsys.core.context import Profile, RequestContext, request_context
from recsys.core.histories import request_history
from recsys.pipeline.recommender import Recommender
from recsys.ranking.fine import ApplyRateModel
from recsys.recall.job_index import JobIndex
from recsys.service.caches import CachedList, ResultCache, query_vector_key
from recsys.service.clock import Clock
from recsys.service.impression_log import ImpressionLog, ServedList
from recsys.service.ingestion import EventIngestion, IngestResult
from recsys.service.postings import LivePostings
from recsys.service.requests import RequestBuilder, RequestOptions
from recsys.service.responses import ServedResponse, response_items
from recsys.service.seekers import SeekerDirectory
from recsys.service.serving_pipeline import encoder_label
from recsys.service.users import UserAccounts


@dataclass(frozen=True)
class Serving:
    """The pipeline a request runs and the model versions it reports, swapped as one."""

    recommender: Recommender
    versions: dict[str, str]


class RecommendationService:
    """One catalog served live; thread-safe for concurrent requests and posting updates."""

    def __init__(
        self,
        recommender: Recommender,
        seekers: SeekerDirectory,
        store: OnlineStore,
        stream: EventStream,
        *,
        postings: LivePostings,
        users: UserAccounts,
        features_root: Path,
        events_root: Path,
        clock: Clock,
        model_versions: dict[str, str],
        cache_ttl_s: float = 60.0,
        impression_flush_s: float = 1.0,
        max_concurrency: int = 2,
        spool: EventSpool | None = None,
    ):
        self._serving = Serving(recommender, dict(model_versions))
        #: swaps of the ranker and of the encoder read the current pipeline and replace it
        self._swapping = threading.Lock()
        self.seekers = seekers
        self.store = store
        self.stream = stream
        self.clock = clock
        self.requests = RequestBuilder(seekers, clock)
        self.results = ResultCache(cache_ttl_s)
        self.events = EventIngestion(
            recommender.catalog, store, stream, events_root, clock, spool=spool
        )
        self.postings = postings
        self.users = users
        #: the catalog change feed's poller; started and stopped by the app with the follower
        self.catalog_poller: Any = None
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self.impressions = ImpressionLog(self.ingest, features_root, flush_s=impression_flush_s)
        #: set by the loader when a registry is followed (a ChampionFollower); started by the app
        self.follower: Any = None
        #: the employer side (a `recsys.service.candidates.CandidateFinder`), set by the loader
        self.candidate_finder: Any = None
        #: follows the candidate ranker's champion (started and stopped with `follower`)
        self.candidate_follower: Any = None
        #: follows the title encoder's champion (`swap_encoder`), started with `follower`
        self.encoder_follower: Any = None
        self.refresh_popularity()

    @property
    def recommender(self) -> Recommender:
        return self._serving.recommender

    @property
    def model_versions(self) -> dict[str, str]:
        return self._serving.versions

    @property
    def catalog(self) -> ServingCatalog:
        return self.recommender.catalog

    @property
    def index(self) -> JobIndex:
        return self.recommender.index

    def now(self) -> np.datetime64:
        return self.clock()

    def background(self) -> list[Any]:
        """The threads the app starts once loaded and stops at shutdown: the champion followers
        of both rankers and of the encoder, and the catalog change feed's poller."""
        workers = (
            self.follower,
            self.candidate_follower,
            self.encoder_follower,
            self.catalog_poller,
        )
        return [w for w in workers if w is not None]

    def degraded(self) -> list[str]:
        """The servers this service is working without right now (e.g. ["redis"]: no personal
        history, no cache, the last popularity, events spooled)."""
        return self.store.degraded() if isinstance(self.store, GuardedOnlineStore) else []

    # ------------------------------------------------------------------------------ requests
    def user_request(self, user_id: str, options: RequestOptions) -> RequestContext:
        """A request for a stored seeker; raises UnknownUserError for an id with no profile."""
        return self.requests.for_user(user_id, options)

    def profile_request(
        self, profile: Profile, options: RequestOptions, user_id: str | None = None
    ) -> RequestContext:
        """A request with an inline profile (cold start); a given user id adds its history."""
        return self.requests.build(profile, options, user_id)

    def recommend(self, ctx: RequestContext, cache_key: str | None = None) -> ServedResponse:
        """Serve one request: from the user's result cache when fresh, else through the
        pipeline; either way the list is logged as impressions. A known user's history, cached
        list and query vector are read in one round trip, and what is new written back in one."""
        t0 = time.perf_counter()
        user_id = ctx.user_id
        serving = self._serving  # read once: a model swapped in meanwhile serves the next request
        rec, versions = serving.recommender, serving.versions
        if cache_key is not None:  # a new champion must not serve the old one's cached lists
            models = f"{versions.get('ranker', '')}|{versions.get('encoder', '')}"
            cache_key = self.results.key(cache_key, models)
        title = ctx.profile.desired_title
        vector_key = query_vector_key(title, rec.encoder.fingerprint)
        query = None
        if user_id is not None:
            read = self.store.read_user(user_id, cached_key=cache_key, vector_key=vector_key)
            ctx.history = request_history(read.history, ctx.now, ctx.first_seen)
            ctx.timings_ms["history"] = (time.perf_counter() - t0) * 1e3
            if read.cached is not None:
                hit = self.results.decode(read.cached)
                self.impressions.log(
                    ServedList(ctx.request_id, user_id, ctx.now, hit.job_ids, hit.features)
                )
                ms = (time.perf_counter() - t0) * 1e3
                return ServedResponse(
                    ctx.request_id,
                    hit.items,
                    hit.model_versions,
                    True,
                    {"cache": ms, "total": ms},
                    degraded=self.degraded(),
                )
            query = read.query_vector
        encoded = query is None
        start = time.perf_counter()
        with self._slots:
            entered = time.perf_counter()
            ctx.timings_ms["queue"] = (entered - start) * 1e3
            if query is None:
                query = rec.encoder.encode([title])[0]
            ctx.timings_ms["query_vector"] = (time.perf_counter() - entered) * 1e3
            result = rec.recommend(ctx, query=query)
        start = time.perf_counter()
        served_rows = result.items.rows
        items = response_items(
            rec.catalog, served_rows, result.items.scores["fine"], result.reasons
        )
        features = result.items.features
        assert features is not None  # the fine stage always keeps its rows
        job_ids = rec.catalog.arrays.job_id[served_rows]
        log_user = user_id or f"anonymous:{ctx.request_id}"
        self.impressions.log(ServedList(ctx.request_id, log_user, ctx.now, job_ids, features))
        if user_id is not None:
            self.store.write_user(
                user_id,
                vector=(vector_key, query) if encoded else None,
                cached=None
                if cache_key is None
                else self.results.entry(cache_key, CachedList(items, versions, job_ids, features)),
            )
        ctx.timings_ms["respond"] = (time.perf_counter() - start) * 1e3
        ctx.timings_ms["service_total"] = (time.perf_counter() - t0) * 1e3
        return ServedResponse(
            ctx.request_id,
            items,
            versions,
            False,
            ctx.timings_ms,
            ctx.counts,
            degraded=self.degraded(),
        )

    def swap_ranker(self, model: ApplyRateModel, label: str) -> None:
        """Serve `model` from the next request on; requests in flight finish on the pipeline
        they started with (one assignment swaps the whole Recommender)."""
        with self._swapping:
            current = self._serving
            self._serving = Serving(
                current.recommender.with_ranker(model), {**current.versions, "ranker": label}
            )

    def swap_encoder(self, recommender: Recommender, seq: int) -> None:
        """Serve `recommender` (another title encoder with its own occupations, catalog and
        index, built off the request path current to catalog change `seq`) from the next request
        on, with the ranker serving now.

        Under the catalog lock (no posting write or change-feed apply runs meanwhile) the new
        pipeline first catches up with the changes committed since `seq`, the change feed and
        the postings move to it, then one assignment swaps it in. Cached query vectors and
        lists of the old encoder are not read again (their keys name the encoder); the employer
        side embeds the seekers again at its next request. When the catch-up fails, the old
        pipeline keeps serving and the error is raised.
        """
        if recommender.index.fingerprint != recommender.encoder.fingerprint:
            raise ValueError("the job index was built by another encoder than the one given")
        old = self.postings
        feed = old.feed
        with feed.lock:
            feed.switch_locked(recommender, seq)
            postings = LivePostings(recommender, old.store, feed, old.clock, feed.lock)
            with self._swapping:
                current = self._serving
                versions = {
                    **current.versions,
                    "encoder": encoder_label(recommender.encoder),
                    "index": recommender.index.kind,
                    "catalog": f"seq {feed.seq}",
                }
                self.events.catalog = recommender.catalog  # events count into the new catalog
                self.refresh_popularity()
                self.postings = postings
                ranked = recommender.with_ranker(current.recommender.ranker)
                self._serving = Serving(ranked, versions)

    def warm_up(self) -> None:
        """One request through every stage (not logged, not cached), so the first real request
        does not pay for lazy initialisation (compiled tree kernels, BLAS, caches)."""
        title = str(self.catalog.jobs["title"].iat[0])
        self.recommender.recommend(request_context(Profile(desired_title=title), self.now(), k=10))

    # ------------------------------------------------------------------------------ events
    def ingest(self, events: pd.DataFrame) -> IngestResult:
        """Durable stream first (deduplicated by event id), then the online store and the
        in-process popularity counters."""
        return self.events.ingest(events)

    def drain(self) -> int:
        """Move the stream's events into the daily Parquet partitions training reads."""
        return self.events.drain()

    def known_jobs(self, job_ids: np.ndarray) -> np.ndarray:
        """Which job ids the catalog holds (expired postings included)."""
        return self.events.known_jobs(job_ids)

    def refresh_popularity(self) -> None:
        """Re-read job popularity over the store's window (other workers' events included)."""
        self.events.refresh_popularity()

    # ------------------------------------------------------------------------------ postings
    def job(self, job_id: int) -> dict[str, Any]:
        """One posting as stored, with whether it is still open; raises UnknownJobError."""
        return self.postings.job(job_id)

    def similar(self, job_id: int, k: int) -> list[dict[str, Any]]:
        """Open postings nearest to this one's title (the posting itself excluded)."""
        return self.postings.similar(job_id, k)

    def candidates(self, job_id: int, k: int, radius_km: float | None) -> dict[str, Any]:
        """The seekers ranked for a posting (employer side), with reasons and timings; raises
        UnknownJobError for an unknown job id and ValueError for a bad k or radius."""
        if not 1 <= k <= 100:
            raise ValueError(f"k must be in [1, 100], got {k}")
        if radius_km is not None and not radius_km > 0:
            raise ValueError(f"radius_km must be > 0, got {radius_km}")
        row = self.postings.row(job_id)
        if self.candidate_finder is None:
            raise RuntimeError("this service was built without the employer side")
        rec = self.recommender  # the catalog and the encoder that embedded it, read together
        result = self.candidate_finder.candidates(
            rec.catalog, row, k, radius_km, self.now(), rec.encoder, rec.occupations
        )
        # An opt-out or deletion made in another process since this one built its pool: the
        # database has the last word, and the seeker leaves this pool for later requests too.
        listed = [item["user_id"] for item in result["items"]]
        visible = self.users.discoverable(listed)
        if len(visible) < len(listed):
            self.candidate_finder.hide([u for u in listed if u not in visible])
            result["items"] = [item for item in result["items"] if item["user_id"] in visible]
        return result

    def add_postings(self, postings: list[dict[str, Any]]) -> list[int]:
        """Add postings live, searchable on the next request; returns their job ids."""
        return self.postings.add(postings)

    def update_posting(self, job_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a posting's fields; every process applies it. Returns the posting."""
        return self.postings.update(job_id, changes)

    def expire_posting(self, job_id: int) -> str:
        """Close a posting now: it leaves the index at once. Idempotent; returns the expiry."""
        return self.postings.expire(job_id)

    # ------------------------------------------------------------------------------ users
    def put_user(self, user_id: str, profile: dict[str, Any]) -> bool:
        """Store a seeker's profile; True when new. Raises ValueError for a bad profile."""
        new = self.users.put(user_id, profile)
        if self.candidate_finder is not None:
            stored = self.users.discoverable([user_id])
            if stored:
                self.candidate_finder.show(user_id)
            else:
                self.candidate_finder.hide([user_id])
        return new

    def get_user(self, user_id: str) -> dict[str, Any]:
        return self.users.get(user_id)

    def delete_user(self, user_id: str) -> bool:
        """Remove the profile, history and caches; later training sets leave the user out."""
        self.impressions.flush()  # lists served a moment ago must not bring the history back
        existed = self.users.delete(user_id)
        if self.candidate_finder is not None:
            self.candidate_finder.hide([user_id])
        return existed

    def known_users(self, user_ids: list[str]) -> list[bool]:
        """Whether each user has a stored profile or was served before (has history). While
        the online store is down a user without a profile cannot be told apart from one who was
        served, and counts as known: the event is kept rather than refused."""

        def known(user_id: str) -> bool:
            if user_id in self.seekers:
                return True
            history = self.store.seeker_history(user_id)
            return history.n_impressions > 0 or bool(self.degraded())

        out = [known(u) for u in user_ids]
        if not all(out):  # a list served a moment ago may still wait in the impression log
            self.impressions.flush()
            out = [ok or known(u) for ok, u in zip(out, user_ids, strict=True)]
        return out

    # ------------------------------------------------------------------------------ lifecycle
    def ready(self) -> tuple[bool, str]:
        """Whether the stores answer (the models are loaded once this object exists)."""
        if not self.store.ping():
            if isinstance(self.store, GuardedOnlineStore):  # it serves degraded answers
                return True, (
                    "degraded: the online store does not answer; serving without personal "
                    "history or caches, events buffered until it is back"
                )
            return False, "the online store does not answer"
        return True, "ready"

    def close(self) -> None:
        self.impressions.close()
        self.store.close()
        self.stream.close()
        if self.events.spool is not None:
            self.events.spool.close()
