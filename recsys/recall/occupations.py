"""Infers the O*NET occupation of any title: the nearest occupation centroid in encoder space.

A centroid is the normalised mean embedding of an occupation's title and (up to a cap) its
alternate titles. Jobs get their occupation once when the catalog is indexed; a seeker's desired
title is classified per request (one 384 x 1,016 product). Centroids are cached next to the
encoder fingerprint they were computed with, since another encoder needs other centroids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys.data.taxonomy import Taxonomy
from recsys.recall.encoder import TitleEncoder

TITLES_PER_OCCUPATION = 24


class OccupationIndex:
    """Nearest-centroid occupation classifier over one encoder's space."""

    def __init__(self, centroids: np.ndarray, fingerprint: str):
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.fingerprint = fingerprint

    @classmethod
    def build(
        cls, encoder: TitleEncoder, taxonomy: Taxonomy, per_occupation: int = TITLES_PER_OCCUPATION
    ) -> OccupationIndex:
        titles, owner = [], []
        for i, occ in enumerate(taxonomy.occupations):
            picked = [occ.title, *occ.alternate_titles[: per_occupation - 1]]
            titles += picked
            owner += [i] * len(picked)
        vectors = encoder.encode(titles, batch_size=256)
        sums = np.zeros((len(taxonomy), vectors.shape[1]), dtype=np.float64)
        np.add.at(sums, np.asarray(owner), vectors)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return cls((sums / np.maximum(norms, 1e-12)).astype(np.float32), encoder.fingerprint)

    @classmethod
    def load_or_build(
        cls, encoder: TitleEncoder, taxonomy: Taxonomy, cache_dir: Path
    ) -> OccupationIndex:
        path = Path(cache_dir) / f"occupation_centroids_{encoder.fingerprint[:16]}.npy"
        if path.exists():
            return cls(np.load(path), encoder.fingerprint)
        index = cls.build(encoder, taxonomy)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, index.centroids)
        return index

    def classify(self, vectors: np.ndarray, batch: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """(occupation index, cosine) of the nearest centroid for each row of `vectors`."""
        vectors = np.atleast_2d(vectors)
        idx = np.empty(len(vectors), dtype=np.int32)
        score = np.empty(len(vectors), dtype=np.float32)
        for start in range(0, len(vectors), batch):
            sims = vectors[start : start + batch] @ self.centroids.T
            idx[start : start + batch] = sims.argmax(axis=1)
            score[start : start + batch] = sims.max(axis=1)
        return idx, score
