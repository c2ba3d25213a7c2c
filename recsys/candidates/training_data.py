"""The candidate ranker's training set: logged impressions labelled with applies and answers.

A row is one seeker impression of a posting (the seeker-side event log: what the seeker saw);
`applied` is whether that seeker applied to that posting, `positive` whether the employer then
answered positively (a `shortlist` employer event on the application). Features come from
`pair_features`, the function serving uses, over the seeker's stored profile and the posting.
Recruiter sessions tell what recruiters liked but not whether the seeker would apply: they are
no apply labels, but `labelled_screens` makes them employer-fit labels (a candidate impression,
`positive` when the recruiter shortlisted that seeker from that list). Screens reach seekers the
seekers' own searches never paired with the posting, which the applications alone do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.candidates.coarse import CoarseRules
from recsys.candidates.features import PairPostings, pair_features
from recsys.candidates.pool import SeekerPool


@dataclass(eq=False)
class CandidateTrainingSet:
    """Feature rows with their labels and keys (row-aligned)."""

    X: np.ndarray
    applied: np.ndarray
    positive: np.ndarray
    keys: pd.DataFrame  # user_id, job_id, ts
    clicked: np.ndarray  # the seeker clicked (or applied); False for recruiter screens

    def __len__(self) -> int:
        return len(self.X)


def labelled_impressions(events: pd.DataFrame, employer_events: pd.DataFrame) -> pd.DataFrame:
    """One row per (seeker, posting) impressed: user_id, job_id, ts (first impression), clicked
    (a click or an apply), applied, positive."""
    imp = events.loc[events["type"] == "impression", ["user_id", "job_id", "ts"]]
    imp = imp.sort_values("ts", kind="stable").drop_duplicates(["user_id", "job_id"])
    applied = events.loc[events["type"] == "apply", ["user_id", "job_id"]].drop_duplicates()
    clicked = events.loc[events["type"] == "click", ["user_id", "job_id"]].drop_duplicates()
    shortlisted = employer_events.loc[
        employer_events["type"] == "shortlist", ["user_id", "job_id"]
    ].drop_duplicates()
    out = imp.merge(applied.assign(applied=True), on=["user_id", "job_id"], how="left")
    out = out.merge(clicked.assign(clicked=True), on=["user_id", "job_id"], how="left")
    out = out.merge(shortlisted.assign(positive=True), on=["user_id", "job_id"], how="left")
    out["applied"] = out["applied"].fillna(False).astype(bool)
    out["positive"] = out["positive"].fillna(False).astype(bool) & out["applied"]
    out["clicked"] = out["clicked"].fillna(False).astype(bool) | out["applied"]
    return out.reset_index(drop=True)


def labelled_screens(employer_events: pd.DataFrame) -> pd.DataFrame:
    """One row per (list, seeker, posting) a recruiter was shown: user_id, job_id, ts, clicked
    and applied (False: a screen is no seeker action), positive (shortlisted from that list).
    A shortlist belongs to the list with its request id, so answers to applications (their own
    request ids) do not count here."""
    keys = ["request_id", "user_id", "job_id"]
    shown = employer_events.loc[employer_events["type"] == "candidate_impression", [*keys, "ts"]]
    shown = shown.sort_values("ts", kind="stable").drop_duplicates(keys)
    picked = employer_events.loc[employer_events["type"] == "shortlist", keys].drop_duplicates()
    out = shown.merge(picked.assign(positive=True), on=keys, how="left")
    out["positive"] = out["positive"].fillna(False).astype(bool)
    out["applied"] = False
    out["clicked"] = False
    return out[["user_id", "job_id", "ts", "clicked", "applied", "positive"]].reset_index(drop=True)


def build_training_set(
    pairs: pd.DataFrame,
    pool: SeekerPool,
    seeker_embeddings: np.ndarray,
    jobs: pd.DataFrame,
    job_skills: sp.csr_matrix,
    job_occupation: np.ndarray,
    job_embeddings: np.ndarray,
    rules: CoarseRules | None = None,
) -> CandidateTrainingSet:
    """Feature rows for labelled pairs (`labelled_impressions`, `labelled_screens`); pairs whose
    seeker or posting is unknown are dropped. `rules`: the coarse rules serving uses (their
    score is a feature)."""
    rules = rules or CoarseRules()
    row_of_job = pd.Series(np.arange(len(jobs)), index=jobs["job_id"].to_numpy(np.int64))
    job_rows = row_of_job.reindex(pairs["job_id"].to_numpy(np.int64)).to_numpy()
    seeker_rows = pairs["user_id"].map(pool.row_of).to_numpy()
    known = ~(pd.isna(job_rows) | pd.isna(seeker_rows))
    pairs = pairs[known].reset_index(drop=True)
    j = job_rows[known].astype(np.int64)
    s = seeker_rows[known].astype(np.int64)
    similarity = np.einsum("ij,ij->i", seeker_embeddings[s], job_embeddings[j])
    postings = PairPostings.from_catalog(jobs, job_skills, job_occupation, j)
    X = pair_features(pool, s, postings, similarity, rules.score(pool, s, postings, similarity))
    return CandidateTrainingSet(
        X=X,
        applied=pairs["applied"].to_numpy(bool),
        positive=pairs["positive"].to_numpy(bool),
        keys=pairs[["user_id", "job_id", "ts"]],
        clicked=pairs["clicked"].to_numpy(bool),
    )
