"""Live postings: look one up, find similar ones, and add, change or close them through the
catalog database, the source of truth every API process follows.

A write is validated like an import row (`recsys.ingest.records`), embedded and coded here (the
derived data is stored with the encoder's fingerprint, so other processes need not re-embed),
committed, and then applied to this process's catalog and index at once through the change feed;
the other processes apply it within their next poll. Writes and applies share one lock; requests
read the catalog and index meanwhile.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from recsys.catalog_db import CatalogStore
from recsys.ingest.places import posting_rows
from recsys.ingest.records import PostingRecord, reasons
from recsys.pipeline.recommender import Recommender
from recsys.recall.job_index import IndexFilter
from recsys.service.catalog_feed import CatalogFeed
from recsys.service.clock import Clock
from recsys.service.responses import posting_record, response_items

#: where postings that came through the API are recorded as coming from
API_SOURCE = "api"


class UnknownJobError(KeyError):
    """A job id the catalog does not hold."""


def _utc(now: np.datetime64) -> datetime:
    return pd.Timestamp(now).to_pydatetime().replace(tzinfo=None)


class LivePostings:
    """The postings of one pipeline's catalog and index (shared by every ranker swapped in)."""

    def __init__(
        self,
        recommender: Recommender,
        store: CatalogStore,
        feed: CatalogFeed,
        clock: Clock,
        lock: threading.Lock,
    ):
        self.encoder = recommender.encoder
        self.occupations = recommender.occupations
        self.catalog = recommender.catalog
        self.index = recommender.index
        self.store = store
        self.feed = feed
        self.clock = clock
        self._lock = lock

    def row(self, job_id: int) -> int:
        """The catalog row of `job_id`; raises UnknownJobError."""
        row = int(self.catalog.rows_of(np.array([job_id], np.int64))[0])
        if row < 0:
            raise UnknownJobError(f"no job with id {job_id}")
        return row

    def job(self, job_id: int) -> dict[str, Any]:
        """One posting as stored, with whether it is still open."""
        return posting_record(self.catalog, self.row(job_id), self.clock())

    def similar(self, job_id: int, k: int) -> list[dict[str, Any]]:
        """Open postings nearest to this one's title embedding (the posting itself excluded)."""
        row = self.row(job_id)
        ids, scores = self.index.search(
            self.catalog.embeddings[row],
            k,
            IndexFilter(now=self.clock(), exclude_ids=np.array([job_id], np.int64)),
        )
        rows = self.catalog.rows_of(ids)
        keep = rows >= 0
        reasons_ = [[f"title similarity {s:.2f}"] for s in scores[keep]]
        return response_items(self.catalog, rows[keep], scores[keep], reasons_)

    # ------------------------------------------------------------------------------ writes
    def _records(
        self, postings: list[dict[str, Any]]
    ) -> tuple[list[PostingRecord], list[int | None]]:
        """Validated records and the job ids the caller chose (None: derived from the id)."""
        out, job_ids = [], []
        for i, p in enumerate(postings):
            body = {k: v for k, v in p.items() if v is not None}
            job_id = body.pop("job_id", None)
            body.setdefault(
                "external_id", str(job_id) if job_id is not None else f"api-{uuid.uuid4().hex}"
            )
            try:
                out.append(PostingRecord.model_validate(body))
            except ValidationError as exc:
                raise ValueError(f"posting {i}: {reasons(exc)}") from None
            job_ids.append(job_id)
        return out, job_ids

    def _commit(self, frame: pd.DataFrame, now: datetime) -> list[int]:
        """Embed and code `frame`'s titles, upsert with the derived data, apply locally."""
        taxonomy = self.catalog.taxonomy
        embeddings = self.encoder.encode(frame["title"].tolist())
        occupation, _ = self.occupations.classify(
            embeddings, taxonomy.skill_matrix(frame["skills"])
        )
        emb = np.ascontiguousarray(embeddings, np.float32)
        frame = frame.assign(
            occupation=taxonomy.codes[occupation],
            embedding=[e.tobytes() for e in emb],
            encoder_fingerprint=self.encoder.fingerprint,
        )
        result = self.store.postings.upsert(frame, now)
        self.feed.poll_locked()
        return result.job_ids

    def add(self, postings: list[dict[str, Any]]) -> list[int]:
        """Add new postings; returns their job ids. Raises ValueError for an invalid posting or
        an id already in use (change a posting with `update`)."""
        records, chosen = self._records(postings)
        ids = [r.external_id for r in records]
        if len(set(ids)) != len(ids):
            raise ValueError("a job id appears twice in the request")
        frame, unplaced = posting_rows(records, API_SOURCE)
        if unplaced:
            i, why = unplaced[0]
            raise ValueError(f"posting {i}: {why}")
        frame = frame.drop(columns="_index")
        frame["job_id"] = pd.Series(chosen, dtype=object)
        with self._lock:
            taken = self.store.postings.by_external_id(ids)
            clash = [j for j in chosen if j is not None and self.store.postings.get(j) is not None]
            if len(taken) or clash:
                used = taken["job_id"].tolist()[:5] if len(taken) else clash[:5]
                raise ValueError(
                    f"job ids already in use: {used} (PATCH /v1/jobs/{{id}} changes a posting)"
                )
            return self._commit(frame, _utc(self.clock()))

    def update(self, job_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change fields of a posting (a reopened or extended one goes back in the index);
        returns the posting as stored afterwards."""
        with self._lock:
            current = self.store.postings.get(job_id)
            if current is None:
                raise UnknownJobError(f"no job with id {job_id}")
            body = {k: current[k] for k in PostingRecord.model_fields if k in current}
            for unknown_when_negative in ("seniority", "job_zone"):
                if (body.get(unknown_when_negative) or 0) < 0:
                    body[unknown_when_negative] = None
            body.update({k: v for k, v in changes.items() if v is not None})
            try:
                record = PostingRecord.model_validate(
                    {k: v for k, v in body.items() if v is not None}
                )
            except ValidationError as exc:
                raise ValueError(reasons(exc)) from None
            moved = {"city", "state", "location"} & set(changes)
            if moved and "lat" not in changes:  # a new place: resolve it again from its name
                record.lat = record.lon = None
            frame, unplaced = posting_rows([record], str(current["source"]))
            if unplaced:
                raise ValueError(unplaced[0][1])
            frame = frame.drop(columns="_index").assign(job_id=job_id)
            self._commit(frame, _utc(self.clock()))
        return self.job(job_id)

    def expire(self, job_id: int) -> str:
        """Close a posting now: it leaves every process's index. Idempotent; returns the
        expiry."""
        with self._lock:
            if self.store.postings.get(job_id) is None:
                raise UnknownJobError(f"no job with id {job_id}")
            self.store.postings.close([job_id], _utc(self.clock()))
            self.feed.poll_locked()
            return str(self.catalog.arrays.expires_at[self.row(job_id)])
