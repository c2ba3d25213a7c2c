"""The candidate ranker over a simulated market: its data, its training and its evaluation.

`CandidateData` holds what both need, built once: the seeker pool and its title embeddings, the
catalog's skill matrix and title embeddings (the serving encoder's). `train_candidate_model`
fits the two-headed `FitModel` on the logged impressions of the days before a held-out day;
`evaluate_candidates` ranks, for a sample of postings live on the held-out day, the whole
discoverable pool (seekers joined by then) with the model, the baseline and the oracle
(`recsys.market.employer.oracle_value`). The retrain's candidate step and
`recsys evaluate ranking` both call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from feature_store.events import read_events
from recsys.candidates.evaluation import ndcg_against_oracle, pool_scores
from recsys.candidates.fit_model import FitModel
from recsys.candidates.pool import (
    Posting,
    SeekerPool,
    infer_seeker_occupations,
    posting_skill_matrix,
)
from recsys.candidates.recommender import CandidateRecommender
from recsys.candidates.seeker_index import SeekerIndex
from recsys.candidates.training_data import (
    CandidateTrainingSet,
    build_training_set,
    labelled_impressions,
    labelled_screens,
)
from recsys.core.folder import EMPLOYER_EVENTS_DIR, EVENTS_DIR
from recsys.market.employer import oracle_value
from recsys.market.market import Market
from recsys.market.traffic import live_jobs
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import OccupationIndex


@dataclass(eq=False)
class CandidateData:
    """A market's seekers and postings as the candidate ranker sees them."""

    market: Market
    folder: Path
    pool: SeekerPool
    seeker_embeddings: np.ndarray
    job_skills: sp.csr_matrix
    job_occupation: np.ndarray
    job_embeddings: np.ndarray
    fingerprint: str

    @classmethod
    def build(
        cls, market: Market, folder: Path, encoder: TitleEncoder, cache_dir: Path
    ) -> CandidateData:
        """Embed and classify the market's seekers and postings (`cache_dir`: where the
        occupation classifier's title vectors are cached)."""
        tax = market.taxonomy
        occupations = OccupationIndex.load_or_build(encoder, tax, cache_dir)
        titles = market.seekers["desired_title"].astype(str).tolist()
        seeker_emb = encoder.encode(titles)
        seeker_skills = tax.skill_matrix(market.seekers["skills"])
        seeker_occ = infer_seeker_occupations(occupations, seeker_emb, seeker_skills)
        job_emb = encoder.encode(market.jobs["title"].astype(str).tolist())
        job_occ, _ = occupations.classify(job_emb, tax.skill_matrix(market.jobs["skills"]))
        job_skills = posting_skill_matrix(tax, market.jobs["skills"], job_occ)
        return cls(
            market=market,
            folder=Path(folder),
            pool=SeekerPool.from_frame(market.seekers, tax, seeker_occ),
            seeker_embeddings=seeker_emb,
            job_skills=job_skills,
            job_occupation=job_occ,
            job_embeddings=job_emb,
            fingerprint=encoder.fingerprint,
        )

    def index(self) -> SeekerIndex:
        return SeekerIndex(self.pool, self.seeker_embeddings, self.fingerprint)

    def posting(self, job_row: int) -> Posting:
        row = self.market.jobs.iloc[int(job_row)].to_dict()
        return Posting.from_row(row, self.market.taxonomy, int(self.job_occupation[job_row]))

    def _events(self, first_day: int, last_day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(seeker events, employer events) of the days [first_day, last_day]."""
        start = self.market.config.start
        lo, hi = start + timedelta(days=first_day), start + timedelta(days=last_day)
        events = read_events(self.folder / EVENTS_DIR, lo, hi)
        # employer actions may arrive in their own log (the simulator) or in the main one
        employer = pd.concat(
            [read_events(self.folder / EMPLOYER_EVENTS_DIR, lo, hi), events], ignore_index=True
        )
        return events, employer

    def training_set(self, first_day: int, last_day: int) -> CandidateTrainingSet:
        """Labelled impressions of the days [first_day, last_day] (days since the start)."""
        events, employer = self._events(first_day, last_day)
        return self._rows(labelled_impressions(events, employer))

    def screening_set(self, first_day: int, last_day: int) -> CandidateTrainingSet:
        """Recruiter screens of the days [first_day, last_day] (`labelled_screens`)."""
        return self._rows(labelled_screens(self._events(first_day, last_day)[1]))

    def _rows(self, pairs: pd.DataFrame) -> CandidateTrainingSet:
        return build_training_set(
            pairs,
            self.pool,
            self.seeker_embeddings,
            self.market.jobs,
            self.job_skills,
            self.job_occupation,
            self.job_embeddings,
        )


def train_candidate_model(
    data: CandidateData, held_out_day: int, seed: int = 42
) -> tuple[FitModel, dict[str, Any]]:
    """The fit model trained on every day before `held_out_day`; (model, training counts)."""
    if held_out_day < 1:
        raise ValueError("the held-out day must leave at least one day to train on")
    rows = data.training_set(0, held_out_day - 1)
    screens = data.screening_set(0, held_out_day - 1)
    model = FitModel.fit(
        rows.X,
        rows.applied,
        rows.positive,
        seed,
        screened_X=screens.X,
        screened_positive=screens.positive,
        clicked=rows.clicked,
    )
    stats = {
        "rows": len(rows),
        "clicks": int(rows.clicked.sum()),
        "applies": int(rows.applied.sum()),
        "positive answers": int(rows.positive.sum()),
        "recruiter screens": len(screens),
        "screen shortlists": int(screens.positive.sum()),
        "train days": f"0-{held_out_day - 1}",
    }
    return model, stats


def evaluate_candidates(
    data: CandidateData,
    models: dict[str, FitModel | None],
    day: int,
    n_postings: int = 200,
    k: int = 10,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """nDCG@k against the oracle for each model (None: the coarse rules) on `day`'s postings."""
    market = data.market
    rng = np.random.default_rng([seed, day])
    live = live_jobs(market, day + 0.5)
    job_rows = np.sort(rng.choice(live, min(n_postings, len(live)), replace=False))
    joined = market.day_of(market.seekers["first_seen"].to_numpy("datetime64[s]")) <= day
    pool_rows = np.flatnonzero(joined & data.pool.discoverable)
    postings = [data.posting(j) for j in job_rows.tolist()]
    queries = data.job_embeddings[job_rows]
    s = np.tile(pool_rows, len(job_rows))
    j = np.repeat(job_rows, len(pool_rows))
    gains = oracle_value(market, s, j, day + 0.5).reshape(len(job_rows), len(pool_rows))
    index = data.index()
    out = {}
    for name, model in models.items():
        rec = CandidateRecommender(index, model)
        ranker, baseline = pool_scores(rec, postings, queries, pool_rows)
        out[name] = ndcg_against_oracle(ranker, baseline, gains, k, seed)
        out[name]["day"] = day
    return out


def candidate_table(results: dict[str, dict[str, Any]], k: int = 10) -> pd.DataFrame:
    """The rows people read: ranker, baseline and oracle nDCG@k and the ratios, per model."""
    rows = {}
    for name, r in results.items():
        rows[name] = {
            f"ndcg@{k}": r[f"ranker ndcg@{k} (expected)"],
            f"baseline ndcg@{k}": r[f"baseline ndcg@{k} (expected)"],
            "/ oracle": r["ranker / oracle (expected)"],
            "vs baseline": r["ranker vs baseline (expected)"],
            f"ndcg@{k} drawn": r[f"ranker ndcg@{k} (drawn)"],
            f"oracle ndcg@{k} drawn": r[f"oracle ndcg@{k} (drawn)"],
            "/ oracle drawn": r["ranker / oracle (drawn)"],
            "postings": r["postings"],
            "seekers": r["seekers"],
        }
    return pd.DataFrame(rows).T


def employer_side_evaluation(
    market: Market,
    folder: Path,
    day: int,
    encoder: TitleEncoder,
    cache_dir: Path,
    n_postings: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`recsys evaluate ranking`'s employer rows: a fit model trained on the days before `day`
    and the coarse rules, on `day`'s postings; (table, training counts)."""
    data = CandidateData.build(market, folder, encoder, cache_dir)
    model, stats = train_candidate_model(data, day, seed=seed)
    results = evaluate_candidates(
        data, {"candidate ranker": model, "coarse rules": None}, day, n_postings, seed=seed
    )
    return candidate_table(results), stats
