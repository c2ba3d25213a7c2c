"""The service's two caches, both kept in the online store: served lists per user (keyed by the
request's parameters and the ranker and encoder versions) and query vectors per user, title and
encoder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from feature_store.online import OnlineStore


def cache_key(**params: object) -> str:
    """A stable key for a request's parameters (the user id is the cache's own key)."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:20]


@dataclass(frozen=True)
class CachedList:
    """A served list as cached: the response items and what the impression log needs."""

    items: list[dict[str, Any]]
    model_versions: dict[str, str]
    job_ids: np.ndarray
    features: np.ndarray


class ResultCache:
    """Served lists per user for `ttl_s`; the user's next click or apply drops them (the store
    does that), and a new ranker or encoder version never reads an older one's lists."""

    def __init__(self, store: OnlineStore, ttl_s: float):
        self.store = store
        self.ttl_s = ttl_s

    @staticmethod
    def key(params_key: str, model_versions: str) -> str:
        return f"{params_key}:{model_versions}"

    def get(self, user_id: str, key: str) -> CachedList | None:
        hit = self.store.get_cached(user_id, key)
        if hit is None:
            return None
        cached = json.loads(hit)
        return CachedList(
            cached["items"],
            cached["model_versions"],
            np.asarray(cached["job_ids"], np.int64),
            np.asarray(cached["features"], np.float32),
        )

    def put(self, user_id: str, key: str, served: CachedList) -> None:
        payload = {
            "items": served.items,
            "model_versions": served.model_versions,
            "job_ids": served.job_ids.tolist(),
            "features": served.features.tolist(),
        }
        self.store.put_cached(user_id, key, json.dumps(payload).encode(), ttl_s=self.ttl_s)


class QueryVectorCache:
    """A user's encoded desired title, so a returning seeker skips the encoder. Keyed by the
    encoder's fingerprint too: after an encoder swap the old vectors are not read again."""

    def __init__(self, store: OnlineStore):
        self.store = store

    @staticmethod
    def key(title: str, fingerprint: str) -> str:
        return f"{fingerprint[:16]}|{title}"

    def get(self, user_id: str, title: str, fingerprint: str) -> np.ndarray | None:
        return self.store.get_query_vector(user_id, self.key(title, fingerprint))

    def put(self, user_id: str, title: str, fingerprint: str, vector: np.ndarray) -> None:
        self.store.put_query_vector(user_id, self.key(title, fingerprint), vector)
