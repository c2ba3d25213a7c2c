"""The serving catalog read from the catalog database, with the encoder's derived data.

Postings come from the catalog DB (the source of truth). Each one's embedding and coded
occupation are stored there with the fingerprint of the encoder that made them: a restart under
the same encoder reads them back instead of re-embedding, and only postings that are new or whose
title changed are embedded (in bulk, each distinct title once) and written back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.catalog_db import CatalogStore
from recsys.data.taxonomy import Taxonomy
from recsys.jobs import JOB_COLUMNS, check_catalog
from recsys.pipeline.build import embed_titles
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import OccupationIndex

#: an employer rating the board did not send counts as this (the middle of 1..5 ratings seen).
UNRATED = 3.5


@dataclass
class CatalogRows:
    """Postings as catalog rows (JOB_COLUMNS) with their embeddings and occupation indices."""

    jobs: pd.DataFrame
    embeddings: np.ndarray
    occupation: np.ndarray
    #: the change sequence these rows are current to
    seq: int


def jobs_from_postings(
    rows: pd.DataFrame, taxonomy: Taxonomy, occupation: np.ndarray
) -> pd.DataFrame:
    """Catalog rows (JOB_COLUMNS) for postings rows of the catalog DB.

    A closed posting expires at its closing time, so every filter that already drops expired
    jobs drops it; a job zone the board did not send is the coded occupation's.
    """
    expires = pd.to_datetime(rows["expires_at"])
    closed = rows["status"].to_numpy() != "open"
    updated = pd.to_datetime(rows["updated_at"])
    expires = expires.where(~closed, np.minimum(expires, updated))
    zone = rows["job_zone"].to_numpy(np.int16)
    known = occupation >= 0
    coded_zone = np.where(known, taxonomy.job_zones[np.maximum(occupation, 0)], -1)
    rating = pd.to_numeric(rows["employer_rating"], errors="coerce").fillna(UNRATED)
    frame = pd.DataFrame(
        {
            "job_id": rows["job_id"].to_numpy(np.int64),
            "title": rows["title"].astype(str).to_numpy(),
            "company_id": rows["company_id"].to_numpy(np.int64),
            "company": rows["company"].astype(str).to_numpy(),
            "city": rows["city"].fillna("").astype(str).to_numpy(),
            "state": rows["state"].fillna("").astype(str).to_numpy(),
            "lat": pd.to_numeric(rows["lat"], errors="coerce").to_numpy(np.float32),
            "lon": pd.to_numeric(rows["lon"], errors="coerce").to_numpy(np.float32),
            "remote": rows["remote"].astype(bool).to_numpy(),
            "job_zone": np.where(zone > 0, zone, coded_zone).astype(np.int8),
            "seniority": rows["seniority"].to_numpy(np.int8),
            "occupation": np.where(known, taxonomy.codes[np.maximum(occupation, 0)], ""),
            "skills": rows["skills"].map(lambda s: list(s) if s is not None else []).to_numpy(),
            "salary_min": pd.to_numeric(rows["salary_min"], errors="coerce").to_numpy(np.float32),
            "salary_max": pd.to_numeric(rows["salary_max"], errors="coerce").to_numpy(np.float32),
            "posted_at": pd.to_datetime(rows["posted_at"]).to_numpy("datetime64[s]"),
            "expires_at": expires.to_numpy("datetime64[s]"),
            "employer_rating": rating.to_numpy(np.float32),
        },
        columns=list(JOB_COLUMNS),
    )
    return check_catalog(frame)


def derive(
    rows: pd.DataFrame,
    store: CatalogStore,
    encoder: TitleEncoder,
    occupations: OccupationIndex,
    taxonomy: Taxonomy,
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings and occupation indices for postings rows: stored ones when this encoder made
    them, else computed (and stored for the next start)."""
    n = len(rows)
    dim = encoder.dim
    embeddings = np.zeros((n, dim), np.float32)
    occupation = np.full(n, -1, np.int32)
    if n == 0:
        return embeddings, occupation
    current = (rows["encoder_fingerprint"].to_numpy() == encoder.fingerprint) & rows[
        "embedding"
    ].notna().to_numpy()
    if current.any():
        stored = rows.loc[current, "embedding"].map(bytes)
        embeddings[current] = np.frombuffer(b"".join(stored), np.float32).reshape(-1, dim)
        codes = rows.loc[current, "occupation"].map(taxonomy.index)
        occupation[current] = codes.fillna(-1).to_numpy(np.int32)
    todo = ~current
    if todo.any():
        fresh = rows.loc[todo]
        emb = embed_titles(encoder, fresh["title"])
        occ, _ = occupations.classify(emb, taxonomy.skill_matrix(fresh["skills"]))
        embeddings[todo] = emb
        occupation[todo] = occ
        store.postings.set_derived(
            fresh["job_id"].tolist(), taxonomy.codes[occ].tolist(), emb, encoder.fingerprint
        )
    return embeddings, occupation


def load_rows(
    store: CatalogStore,
    encoder: TitleEncoder,
    occupations: OccupationIndex,
    taxonomy: Taxonomy,
    since_seq: int = 0,
) -> CatalogRows:
    """Every posting changed after `since_seq` (all of them from 0), derived data included."""
    rows = store.postings.frame(since_seq=since_seq)
    if rows.empty and since_seq:
        # the poller's usual answer, once a second on every worker: skip building empty frames
        no_jobs = pd.DataFrame(columns=list(JOB_COLUMNS))
        return CatalogRows(
            no_jobs, np.zeros((0, encoder.dim), np.float32), np.zeros(0, np.int32), since_seq
        )
    embeddings, occupation = derive(rows, store, encoder, occupations, taxonomy)
    seq = int(rows["seq"].max()) if len(rows) else since_seq
    return CatalogRows(jobs_from_postings(rows, taxonomy, occupation), embeddings, occupation, seq)
