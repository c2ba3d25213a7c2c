"""The service's two caches, both kept in the online store: served lists per user (keyed by the
request's parameters and the ranker and encoder versions) and query vectors per user, title and
encoder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from feature_store.online import CachedEntry


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
    does that), and a new ranker or encoder version never reads an older one's lists. The
    service reads and writes them with the request's other user state (`OnlineStore.read_user`
    / `write_user`), so this holds the keys and the encoding."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s

    @staticmethod
    def key(params_key: str, model_versions: str) -> str:
        return f"{params_key}:{model_versions}"

    @staticmethod
    def decode(payload: bytes) -> CachedList:
        cached = json.loads(payload)
        return CachedList(
            cached["items"],
            cached["model_versions"],
            np.asarray(cached["job_ids"], np.int64),
            np.asarray(cached["features"], np.float32),
        )

    def entry(self, key: str, served: CachedList) -> CachedEntry:
        """The (key, payload, ttl) `OnlineStore.write_user` caches."""
        payload = {
            "items": served.items,
            "model_versions": served.model_versions,
            "job_ids": served.job_ids.tolist(),
            "features": served.features.tolist(),
        }
        return key, json.dumps(payload).encode(), self.ttl_s


def query_vector_key(title: str, fingerprint: str) -> str:
    """A user's encoded desired title is kept under this key, so a returning seeker skips the
    encoder; with the encoder's fingerprint in it, the old vectors are not read after a swap."""
    return f"{fingerprint[:16]}|{title}"
