"""The recommendation service: requests in, explained lists out, events and postings kept live.

It wraps one Recommender with what a running service needs around it: profiles and histories from
the stores, a per-user result cache, query-vector caching, the impression log, event ingestion
(durable stream first, then the online store and the in-process popularity counters) and live
posting updates. The API routers call these methods and do nothing else.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feature_store.online import OnlineStore
from feature_store.stream import EventStream
from recsys.closed_loop import LOCAL_RADIUS_KM, catalog_popularity
from recsys.pipeline.candidates import Filters, Profile, RequestContext
from recsys.pipeline.catalog import ServingCatalog
from recsys.pipeline.recommender import Recommender
from recsys.recall.job_index import REMOTE_MODES, IndexFilter, JobIndex, catalog_columns
from recsys.service.impression_log import ImpressionLog, ServedList
from recsys.service.jobs import new_postings
from recsys.service.seekers import SeekerDirectory, request_history

#: how long a live-added posting stays open when the request names no expiry.
DEFAULT_POSTING_DAYS = 30

Clock = Callable[[], np.datetime64]


class UnknownJobError(KeyError):
    """A job id the catalog does not hold."""


@dataclass
class RequestOptions:
    """What the caller asked for besides the profile."""

    k: int = 20
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    remote: str = "acceptable"


@dataclass
class ServedResponse:
    """A served list as the API returns it."""

    request_id: str
    items: list[dict[str, Any]]
    model_versions: dict[str, str]
    cached: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


class RecommendationService:
    """One catalog served live; thread-safe for concurrent requests and posting updates."""

    def __init__(
        self,
        recommender: Recommender,
        seekers: SeekerDirectory,
        store: OnlineStore,
        stream: EventStream,
        *,
        features_root: Path,
        events_root: Path,
        clock: Clock,
        model_versions: dict[str, str],
        cache_ttl_s: float = 60.0,
        impression_flush_s: float = 1.0,
        max_concurrency: int = 2,
    ):
        self.recommender = recommender
        self.seekers = seekers
        self.store = store
        self.stream = stream
        self.clock = clock
        self.events_root = Path(events_root)
        self.model_versions = dict(model_versions)
        self.cache_ttl_s = cache_ttl_s
        self._postings_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self.impressions = ImpressionLog(self.ingest, features_root, flush_s=impression_flush_s)
        #: set by the loader when a registry is followed (a ChampionFollower); started by the app
        self.follower: Any = None
        self.refresh_popularity()

    # ------------------------------------------------------------------------------ requests
    @property
    def catalog(self) -> ServingCatalog:
        return self.recommender.catalog

    @property
    def index(self) -> JobIndex:
        return self.recommender.stage("recall").index  # type: ignore[attr-defined]

    def now(self) -> np.datetime64:
        return self.clock()

    def user_request(self, user_id: str, options: RequestOptions) -> RequestContext:
        """A request for a stored seeker; raises UnknownUserError for an id with no profile."""
        profile = self.seekers.profile(user_id)
        return self._context(profile, options, user_id)

    def profile_request(
        self, profile: Profile, options: RequestOptions, user_id: str | None = None
    ) -> RequestContext:
        """A request with an inline profile (cold start); a given user id adds its history."""
        return self._context(profile, options, user_id)

    def _context(
        self, profile: Profile, options: RequestOptions, user_id: str | None
    ) -> RequestContext:
        if options.remote not in REMOTE_MODES:
            raise ValueError(f"remote={options.remote!r}; use one of {REMOTE_MODES}")
        if (options.lat is None) != (options.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if options.lat is not None and options.lon is not None:
            profile.lat, profile.lon = float(options.lat), float(options.lon)
            profile.location = f"{options.lat:.4f}, {options.lon:.4f}"
            profile.relocate = False
        now = self.now()
        radius = options.radius_km
        if radius is None and not profile.relocate:
            radius = LOCAL_RADIUS_KM
        ctx = RequestContext(
            request_id=uuid.uuid4().hex,
            profile=profile,
            now=now,
            k=options.k,
            user_id=user_id,
            filters=Filters(
                radius_km=radius if profile.lat is not None else None, remote=options.remote
            ),
        )
        if user_id is not None:
            start = time.perf_counter()
            ctx.history = request_history(
                self.store.seeker_history(user_id), now, self.seekers.first_seen(user_id)
            )
            ctx.timings_ms["history"] = (time.perf_counter() - start) * 1e3
        return ctx

    def recommend(self, ctx: RequestContext, cache_key: str | None = None) -> ServedResponse:
        """Serve one request: from the user's result cache when fresh, else through the
        pipeline; either way the list is logged as impressions."""
        t0 = time.perf_counter()
        user_id = ctx.user_id
        if cache_key is not None:  # a new champion must not serve the old one's cached lists
            cache_key = f"{cache_key}:{self.model_versions.get('ranker', '')}"
        if user_id is not None and cache_key is not None:
            hit = self.store.get_cached(user_id, cache_key)
            if hit is not None:
                cached = json.loads(hit)
                served = ServedList(
                    ctx.request_id,
                    user_id,
                    ctx.now,
                    np.asarray(cached["job_ids"], np.int64),
                    np.asarray(cached["features"], np.float32),
                )
                self.impressions.log(served)
                ms = (time.perf_counter() - t0) * 1e3
                return ServedResponse(
                    ctx.request_id,
                    cached["items"],
                    cached["model_versions"],
                    True,
                    {"cache": ms, "total": ms},
                )
        title = ctx.profile.desired_title
        query = None if user_id is None else self.store.get_query_vector(user_id, title)
        encoded = query is None
        start = time.perf_counter()
        with self._slots:
            entered = time.perf_counter()
            ctx.timings_ms["queue"] = (entered - start) * 1e3
            if query is None:
                query = self.recommender.encoder.encode([title])[0]
            ctx.timings_ms["query_vector"] = (time.perf_counter() - entered) * 1e3
            result = self.recommender.recommend(ctx, query=query)
        if user_id is not None and encoded:
            self.store.put_query_vector(user_id, title, query)
        start = time.perf_counter()
        served_rows = result.items.rows
        items = self.items(served_rows, result.items.scores["fine"], result.reasons)
        features = result.items.features
        assert features is not None  # the fine stage always keeps its rows
        job_ids = self.catalog.arrays.job_id[served_rows]
        log_user = user_id or f"anonymous:{ctx.request_id}"
        self.impressions.log(ServedList(ctx.request_id, log_user, ctx.now, job_ids, features))
        if user_id is not None and cache_key is not None:
            payload = {
                "items": items,
                "model_versions": self.model_versions,
                "job_ids": job_ids.tolist(),
                "features": features.tolist(),
            }
            self.store.put_cached(
                user_id, cache_key, json.dumps(payload).encode(), ttl_s=self.cache_ttl_s
            )
        ctx.timings_ms["respond"] = (time.perf_counter() - start) * 1e3
        ctx.timings_ms["service_total"] = (time.perf_counter() - t0) * 1e3
        return ServedResponse(
            ctx.request_id, items, self.model_versions, False, ctx.timings_ms, ctx.counts
        )

    def items(
        self, rows: np.ndarray, scores: np.ndarray, reasons: list[list[str]]
    ) -> list[dict[str, Any]]:
        """The served rows as response items (only the k served rows are turned into dicts)."""
        jobs = self.catalog.jobs
        picked = jobs.iloc[rows]
        place = np.where(
            picked["remote"].to_numpy(bool),
            "Remote",
            (picked["city"].astype(str) + ", " + picked["state"].astype(str)).to_numpy(),
        )
        return [
            {
                "job_id": int(job_id),
                "title": str(title),
                "company": str(company),
                "location": str(where),
                "remote": bool(remote),
                "score": round(float(score), 6),
                "reasons": why,
            }
            for job_id, title, company, where, remote, score, why in zip(
                picked["job_id"].to_numpy(),
                picked["title"].to_numpy(),
                picked["company"].to_numpy(),
                place,
                picked["remote"].to_numpy(bool),
                scores,
                reasons,
                strict=True,
            )
        ]

    def swap_ranker(self, model: object, label: str) -> None:
        """Serve `model` from the next request on; requests in flight finish on the old one
        (the fine stage reads its model once per request)."""
        self.recommender.stage("fine").model = model  # type: ignore[attr-defined]
        self.model_versions = {**self.model_versions, "ranker": label}

    def warm_up(self) -> None:
        """One request through every stage (not logged, not cached), so the first real request
        does not pay for lazy initialisation (compiled tree kernels, BLAS, caches)."""
        title = str(self.catalog.jobs["title"].iat[0])
        ctx = RequestContext(uuid.uuid4().hex, Profile(desired_title=title), self.now(), k=10)
        self.recommender.recommend(ctx)

    # ------------------------------------------------------------------------------ events
    def ingest(self, events: pd.DataFrame) -> IngestResult:
        """Append to the durable stream (deduplicated by event id), then fold the new events
        into the online store and the in-process popularity counters."""
        if events.empty:
            return IngestResult(0, 0)
        new = self.stream.append_new(events)
        if not new.empty:
            self.store.apply_events(new)
            self.catalog.popularity.add(catalog_popularity(self.catalog, new))
        return IngestResult(len(new), len(events) - len(new))

    def drain(self) -> int:
        """Move the stream's events into the daily Parquet partitions training reads."""
        return self.stream.drain(self.events_root)

    def known_jobs(self, job_ids: np.ndarray) -> np.ndarray:
        """Which job ids the catalog holds (expired postings included)."""
        return self.catalog.rows_of(np.asarray(job_ids, np.int64)) >= 0

    def refresh_popularity(self) -> None:
        """Re-read job popularity over the store's window (other workers' events included)."""
        now = pd.Timestamp(self.now()).to_pydatetime()
        catalog = self.catalog
        impressions, clicks, applies = self.store.job_popularity(catalog.arrays.job_id, now)
        pop = catalog.popularity
        n = min(len(impressions), len(pop.impressions))
        pop.impressions[:n] = impressions[:n]
        pop.clicks[:n] = clicks[:n]
        pop.applies[:n] = applies[:n]

    # ------------------------------------------------------------------------------ postings
    def job(self, job_id: int) -> dict[str, Any]:
        """One posting as stored, with whether it is still open."""
        row = self._row(job_id)
        job = self.catalog.jobs.iloc[row]
        expires = np.datetime64(job["expires_at"], "s")
        return {
            "job_id": int(job["job_id"]),
            "title": str(job["title"]),
            "company": str(job["company"]),
            "city": str(job["city"]),
            "state": str(job["state"]),
            "lat": float(job["lat"]),
            "lon": float(job["lon"]),
            "remote": bool(job["remote"]),
            "seniority": int(job["seniority"]),
            "occupation": str(job["occupation"]),
            "skills": [str(s) for s in job["skills"]],
            "salary_min": _finite_or_none(job["salary_min"]),
            "salary_max": _finite_or_none(job["salary_max"]),
            "posted_at": str(np.datetime64(job["posted_at"], "s")),
            "expires_at": str(expires),
            "open": bool(expires > self.now()),
        }

    def similar(self, job_id: int, k: int) -> list[dict[str, Any]]:
        """Open postings nearest to this one's title embedding (the posting itself excluded)."""
        row = self._row(job_id)
        ids, scores = self.index.search(
            self.catalog.embeddings[row],
            k,
            IndexFilter(now=self.now(), exclude_ids=np.array([job_id], np.int64)),
        )
        rows = self.catalog.rows_of(ids)
        keep = rows >= 0
        reasons = [[f"title similarity {s:.2f}"] for s in scores[keep]]
        return self.items(rows[keep], scores[keep], reasons)

    def add_postings(self, postings: list[dict[str, Any]]) -> list[int]:
        """Add postings live: embedded, coded to an occupation, appended to the catalog and
        indexed; searchable on the next request. Returns their job ids."""
        with self._postings_lock:
            now = self.now()
            jobs = new_postings(postings, self.catalog, now, DEFAULT_POSTING_DAYS)
            rec = self.recommender
            embeddings = rec.encoder.encode(jobs["title"].tolist())
            skills = self.catalog.taxonomy.skill_matrix(jobs["skills"])
            occupation, _ = rec.occupations.classify(embeddings, skills)
            taxonomy = self.catalog.taxonomy
            jobs["occupation"] = taxonomy.codes[occupation]
            unknown_zone = jobs["job_zone"] <= 0
            jobs.loc[unknown_zone, "job_zone"] = taxonomy.job_zones[occupation][unknown_zone]
            self.catalog.append(jobs, embeddings, occupation)
            job_ids, lat, lon, remote, zone, expires = catalog_columns(jobs)
            self.index.add(job_ids, embeddings, lat, lon, remote, zone, expires)
            return [int(i) for i in jobs["job_id"]]

    def expire_posting(self, job_id: int) -> str:
        """Close a posting now: it leaves the index at once. Idempotent; returns the expiry."""
        with self._postings_lock:
            row = self._row(job_id)
            now = self.now()
            current = self.catalog.arrays.expires_at[row]
            if current > now:
                self.catalog.expire(row, now)
                current = now
            self.index.remove(np.array([job_id], np.int64))
            return str(current)

    def _row(self, job_id: int) -> int:
        row = int(self.catalog.rows_of(np.array([job_id], np.int64))[0])
        if row < 0:
            raise UnknownJobError(f"no job with id {job_id}")
        return row

    # ------------------------------------------------------------------------------ lifecycle
    def ready(self) -> tuple[bool, str]:
        """Whether the stores answer (the models are loaded once this object exists)."""
        if not self.store.ping():
            return False, "the online store does not answer"
        return True, "ready"

    def close(self) -> None:
        self.impressions.close()
        self.store.close()
        self.stream.close()


def cache_key(**params: object) -> str:
    """A stable key for a request's parameters (the user id is the cache's own key)."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:20]


def _finite_or_none(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return number if np.isfinite(number) else None
