"""The job catalog as the request path holds it: numpy columns, sparse skills and title words.

Built once at start-up (and grown by `add`) so that every stage works on arrays indexed by the
catalog row id; nothing on the request path goes back to pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from recsys.data.taxonomy import Taxonomy
from recsys.jobs import JobArrays, check_catalog

#: words that say nothing about the job itself.
TITLE_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "of",
        "for",
        "in",
        "on",
        "at",
        "to",
        "with",
        "or",
        "job",
        "jobs",
        "position",
        "hiring",
        "full",
        "part",
        "time",
        "remote",
        "hybrid",
        "i",
        "ii",
        "iii",
        "iv",
        "sr",
        "jr",
        "senior",
        "junior",
        "lead",
        "entry",
        "level",
    ]
)


def title_vectorizer() -> CountVectorizer:
    """Lower-cased word tokens minus stopwords; shared by the catalog and the query side."""
    return CountVectorizer(
        binary=True,
        lowercase=True,
        token_pattern=r"(?u)\b[a-z][a-z0-9+#]+\b",
        stop_words=sorted(TITLE_STOPWORDS),
        dtype=np.float32,
    )


@dataclass
class Popularity:
    """Per-job counters from the event log or the online store, aligned with catalog rows."""

    impressions: np.ndarray
    clicks: np.ndarray
    applies: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> Popularity:
        return cls(np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32))

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.impressions, self.clicks, self.applies

    def add(self, other: Popularity) -> None:
        """Add `other`'s counts in place, over the rows both hold (a catalog may have grown)."""
        for mine, theirs in zip(self.as_tuple(), other.as_tuple(), strict=True):
            n = min(len(mine), len(theirs))
            mine[:n] += theirs[:n]

    def apply_rate(self, prior: float = 0.03, strength: float = 50.0) -> np.ndarray:
        """Apply rate shrunk toward `prior` with `strength` pseudo-impressions."""
        return (self.applies + prior * strength) / (self.impressions + strength)


@dataclass
class ServingCatalog:
    """Everything the stages read about jobs, row-aligned."""

    jobs: pd.DataFrame
    taxonomy: Taxonomy
    arrays: JobArrays
    skills: sp.csr_matrix
    titles: sp.csr_matrix
    vectorizer: CountVectorizer
    occupation: np.ndarray  # inferred taxonomy index per job (-1 unknown)
    embeddings: np.ndarray  # L2-normalised title embeddings, float32
    popularity: Popularity
    company: np.ndarray = field(init=False)
    duplicate_key: np.ndarray = field(init=False)
    #: (sorted job ids, their rows), swapped as one object so a reader never sees a mix
    _id_lookup: tuple[np.ndarray, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.company = self.jobs["company_id"].to_numpy(np.int64)
        self.duplicate_key = duplicate_keys(self.jobs)
        self._id_lookup = _id_lookup(self.arrays.job_id)

    @classmethod
    def build(
        cls,
        jobs: pd.DataFrame,
        taxonomy: Taxonomy,
        embeddings: np.ndarray,
        occupation: np.ndarray,
        popularity: Popularity | None = None,
    ) -> ServingCatalog:
        jobs = check_catalog(jobs)
        if len(embeddings) != len(jobs) or len(occupation) != len(jobs):
            raise ValueError(
                f"{len(jobs)} jobs but {len(embeddings)} embeddings and "
                f"{len(occupation)} occupations"
            )
        vec = title_vectorizer()
        titles = vec.fit_transform(jobs["title"]).tocsr()
        return cls(
            jobs=jobs,
            taxonomy=taxonomy,
            arrays=JobArrays.from_catalog(jobs),
            skills=taxonomy.skill_matrix(jobs["skills"]),
            titles=titles,
            vectorizer=vec,
            occupation=np.asarray(occupation, np.int32),
            embeddings=np.ascontiguousarray(embeddings, dtype=np.float32),
            popularity=popularity or Popularity.zeros(len(jobs)),
        )

    def __len__(self) -> int:
        return len(self.jobs)

    def rows_of(self, job_ids: np.ndarray) -> np.ndarray:
        """Catalog rows of job ids (-1 for ids not in the catalog)."""
        sorted_ids, sorted_rows = self._id_lookup
        job_ids = np.asarray(job_ids, dtype=np.int64)
        if len(sorted_ids) == 0:
            return np.full(len(job_ids), -1, np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, job_ids), len(sorted_ids) - 1)
        return np.where(sorted_ids[pos] == job_ids, sorted_rows[pos], -1)

    def title_words(self, text: str) -> sp.csr_matrix:
        """The query's words in the catalog's title vocabulary (1 x vocab)."""
        return self.vectorizer.transform([text]).tocsr()

    def append(self, jobs: pd.DataFrame, embeddings: np.ndarray, occupation: np.ndarray) -> None:
        """Add postings as new rows at the end; existing row ids never change.

        Live requests may read the catalog meanwhile: every column is replaced by a longer copy,
        and the id lookup last, so a job becomes findable only once all its columns exist. The
        title vocabulary stays the one fitted at build time (new words do not count for title
        overlap until the next rebuild). Callers serialise appends (the service holds a lock).
        """
        jobs = check_catalog(jobs)
        clash = np.isin(jobs["job_id"].to_numpy(np.int64), self.arrays.job_id)
        if clash.any():
            raise ValueError(f"job ids already in the catalog: {jobs['job_id'][clash].tolist()}")
        n = len(jobs)
        merged = pd.concat([self.jobs, jobs], ignore_index=True)
        self.embeddings = np.concatenate([self.embeddings, np.asarray(embeddings, np.float32)])
        self.occupation = np.concatenate([self.occupation, np.asarray(occupation, np.int32)])
        self.skills = sp.vstack([self.skills, self.taxonomy.skill_matrix(jobs["skills"])]).tocsr()
        self.titles = sp.vstack([self.titles, self.vectorizer.transform(jobs["title"])]).tocsr()
        pop = self.popularity
        self.popularity = Popularity(
            *(np.concatenate([a, np.zeros(n, np.float32)]) for a in pop.as_tuple())
        )
        self.company = np.concatenate([self.company, jobs["company_id"].to_numpy(np.int64)])
        self.duplicate_key = np.concatenate([self.duplicate_key, duplicate_keys(jobs)])
        self.jobs = merged
        self.arrays = JobArrays.from_catalog(merged)
        self._id_lookup = _id_lookup(self.arrays.job_id)

    def expire(self, row: int, when: np.datetime64) -> None:
        """Mark a posting expired from `when` on (the index drops it separately)."""
        self.arrays.expires_at[row] = when
        self.jobs.loc[row, "expires_at"] = pd.Timestamp(when)


def duplicate_keys(jobs: pd.DataFrame) -> np.ndarray:
    """Near-duplicate key per posting: same employer, same title up to case and punctuation."""
    norm = jobs["title"].str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()
    key = jobs["company_id"].astype(str) + "|" + norm
    return pd.util.hash_pandas_object(key, index=False).to_numpy(np.uint64)


def _id_lookup(job_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(job_ids, kind="stable")
    return job_ids[order], order.astype(np.int64)
