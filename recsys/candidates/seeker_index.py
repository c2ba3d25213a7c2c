"""The seeker index: inner-product search over seekers' desired-title embeddings, with the
employer side's hard filters inside the search.

The embeddings come from the serving `TitleEncoder` (the job index's encoder, so a posting's
title and a seeker's desired title are comparable), and the index carries its fingerprint. A
query computes one boolean mask over seeker rows: discoverable only; not already applied or
contacted (`exclude_rows`); a seniority band around the posting's level; for an on-site posting,
within `radius_km` or willing to relocate (a remote posting takes any location). Exact search over
the allowed rows is one matrix-vector product and a partial sort (`recsys.recall.search.top`):
at 50k seekers x 384 dims it is a few milliseconds, below the IVF break-even the job index
measured. With `faiss.get_num_gpus() > 0` a GPU flat replica answers first, through
`recsys.recall.search.search_gpu` (it over-fetches and applies the mask, and declines when the
allowed share is too small; the CPU path then answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import faiss
import numpy as np

from recsys.candidates.pool import Posting, SeekerPool
from recsys.data.geo import haversine_km
from recsys.recall.search import GPU_MAX_K, search_gpu, top

_KM_PER_DEGREE_LAT: Final[float] = 111.19
#: seniority levels a seeker may sit below / above the posting's level
DEFAULT_LEVEL_BAND: Final[tuple[int, int]] = (2, 2)


@dataclass(frozen=True)
class SeekerFilter:
    """The hard filters of one candidate search (see the module docstring)."""

    radius_km: float | None = None
    level_band: tuple[int, int] = DEFAULT_LEVEL_BAND
    exclude_rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.radius_km is not None and not self.radius_km > 0:
            raise ValueError(f"radius_km must be > 0, got {self.radius_km}")
        if min(self.level_band) < 0:
            raise ValueError(f"level_band must be non-negative, got {self.level_band}")


class SeekerIndex:
    """Seekers' title embeddings row-aligned with a `SeekerPool`, searched under hard filters."""

    def __init__(self, pool: SeekerPool, embeddings: np.ndarray, fingerprint: str):
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        if emb.shape[0] != len(pool) or emb.ndim != 2:
            raise ValueError(
                f"embeddings must be ({len(pool)}, dim), one row per seeker; got {emb.shape}"
            )
        self.pool = pool
        self.embeddings = emb
        self.fingerprint = fingerprint
        self._gpu: Any = None

    @property
    def on_gpu(self) -> bool:
        return faiss.get_num_gpus() > 0

    def allowed_mask(self, posting: Posting, filters: SeekerFilter) -> np.ndarray:
        """Boolean mask over seeker rows passing every hard filter for `posting`."""
        p = self.pool
        mask = p.discoverable.copy()
        if posting.seniority >= 0:
            below, above = filters.level_band
            level = p.level.astype(np.int16)
            in_band = (level >= posting.seniority - below) & (level <= posting.seniority + above)
            mask &= in_band | (level < 0)
        if filters.radius_km is not None and not posting.remote:
            mask &= self._near(posting, filters.radius_km, mask) | p.willing_to_relocate
        if filters.exclude_rows is not None and len(filters.exclude_rows):
            mask[np.asarray(filters.exclude_rows, np.int64)] = False
        return mask

    def _near(self, posting: Posting, radius_km: float, mask: np.ndarray) -> np.ndarray:
        """Rows within `radius_km` of the posting (haversine only inside a latitude band)."""
        lat = self.pool.lat
        band = np.abs(lat - posting.lat) <= radius_km / _KM_PER_DEGREE_LAT + 1e-3
        rows = np.flatnonzero(band & mask)
        km = haversine_km(posting.lat, posting.lon, lat[rows], self.pool.lon[rows])
        near = np.zeros(len(lat), bool)
        near[rows[km <= radius_km]] = True
        return near

    def search(
        self, query: np.ndarray, k: int, posting: Posting, filters: SeekerFilter
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best `min(k, allowed)` seeker rows for a posting's title embedding: (rows int64,
        scores float32), best first, every one passing the filters."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q = np.ascontiguousarray(np.asarray(query, np.float32).ravel())
        mask = self.allowed_mask(posting, filters)
        n_allowed = int(np.count_nonzero(mask))
        want = min(int(k), n_allowed)
        if want == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if self.on_gpu and want <= GPU_MAX_K:
            hit = search_gpu(self._gpu_index(), len(mask), q, want, mask, n_allowed)
            if hit is not None:
                return hit[0].astype(np.int64), hit[1].astype(np.float32)
        if n_allowed * 2 < len(mask):  # few allowed: gather them
            rows = np.flatnonzero(mask)
            scores = self.embeddings[rows] @ q
        else:  # most allowed: one product over all rows beats copying the allowed ones
            rows = np.arange(len(mask))
            scores = self.embeddings @ q
            scores[~mask] = -np.inf
        best = top(scores, want)
        return rows[best], scores[best].astype(np.float32)

    def _gpu_index(self) -> Any:
        if self._gpu is None:
            cpu = faiss.IndexFlatIP(self.embeddings.shape[1])
            cpu.add(self.embeddings)
            self._gpu = faiss.index_cpu_to_all_gpus(cpu)
        return self._gpu
