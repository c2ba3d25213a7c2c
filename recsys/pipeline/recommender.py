"""The Recommender: the profile step, then the ordered stages recall -> coarse -> fine -> rerank.

It times every step of every request (`ctx.timings_ms`) and counts candidates after each stage
(`ctx.counts`), so the API's debug output and the latency benchmarks read the same numbers.
Callers change or read a stage only through its typed methods (`ranker`, `with_ranker`,
`index`, `run_through`), never by reaching into `stages`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from recsys.core.candidates import Candidates, Stage
from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext, SeekerView
from recsys.ranking.balance import CongestionBalance
from recsys.ranking.fine import ApplyRateModel, FineStage
from recsys.ranking.reasons import explain
from recsys.ranking.rerank import RerankStage
from recsys.recall.encoder import TitleEncoder
from recsys.recall.job_index import JobIndex
from recsys.recall.occupations import OccupationIndex
from recsys.recall.stage import RecallStage

S = TypeVar("S")

#: weight of the mean embedding of applied-to jobs in the query vector.
HISTORY_BLEND = 0.3


@dataclass
class Recommendation:
    """The served list with its reasons; timings and counts stay on the context."""

    items: Candidates
    reasons: list[list[str]]
    #: each stage's output, kept only when asked (the closed loop explores from the fine pool)
    stage_outputs: dict[str, Candidates]


class Recommender:
    """An ordered list of stages over one catalog, plus the profile step that feeds them."""

    def __init__(
        self,
        encoder: TitleEncoder,
        occupations: OccupationIndex,
        catalog: ServingCatalog,
        stages: Sequence[Stage],
    ):
        if occupations.fingerprint != encoder.fingerprint:
            raise ValueError("occupation centroids were computed with another encoder")
        self.encoder = encoder
        self.occupations = occupations
        self.catalog = catalog
        self.stages = list(stages)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}; stages: {[s.name for s in self.stages]}")

    def _only(self, kind: type[S]) -> S:
        found = [s for s in self.stages if isinstance(s, kind)]
        if len(found) != 1:
            raise LookupError(f"expected one {kind.__name__} among {[s.name for s in self.stages]}")
        return found[0]

    @property
    def index(self) -> JobIndex:
        """The job index the recall stage searches (postings are added to and removed from it)."""
        return self._only(RecallStage).index

    @property
    def ranker(self) -> ApplyRateModel | None:
        """The fine stage's apply-rate model (None: coarse-only)."""
        return self._only(FineStage).model

    def with_ranker(self, model: ApplyRateModel | None) -> Recommender:
        """The same pipeline (catalog, index and other stages shared) with `model` in the fine
        stage; this one is unchanged, so requests running on it finish on the model they began
        with. None serves coarse-only."""
        fine = self._only(FineStage)
        stages = [fine.with_model(model) if s is fine else s for s in self.stages]
        return Recommender(self.encoder, self.occupations, self.catalog, stages)

    def with_balance(self, balance: CongestionBalance | None) -> Recommender:
        """The same pipeline with `balance` as the rerank's congestion multiplier (None: off);
        this one is unchanged."""
        rerank = self._only(RerankStage)
        stages = [
            RerankStage(rerank.catalog, rerank.policy, balance) if s is rerank else s
            for s in self.stages
        ]
        return Recommender(self.encoder, self.occupations, self.catalog, stages)

    def run_through(
        self, ctx: RequestContext, last: str, query: np.ndarray | None = None
    ) -> Candidates:
        """The profile step and the stages up to and including `last`, untimed: the pool that
        stage hands on (offline evaluations score the coarse pool with every policy)."""
        self.stage(last)  # an unknown name fails before any work
        ctx.seeker = self.seeker_view(ctx, query)
        candidates = Candidates(np.zeros(0, np.int64))
        for stage in self.stages:
            candidates = stage(ctx, candidates)
            if stage.name == last:
                break
        return candidates

    def seeker_view(self, ctx: RequestContext, query: np.ndarray | None = None) -> SeekerView:
        """The profile step: query vector (title blended with applied jobs), inferred occupation,
        skills and title words as arrays. `query` skips the encoder when a cached vector exists."""
        cat = self.catalog
        if query is None:
            query = self.encoder.encode([ctx.profile.desired_title])[0]
        applied = cat.rows_of(ctx.history.applied_job_ids)
        applied = applied[applied >= 0]
        skills = cat.taxonomy.skill_matrix([ctx.profile.skills])
        occupation, _ = self.occupations.classify(query[None, :], skills)
        blended = query
        if len(applied):
            blended = query + HISTORY_BLEND * cat.embeddings[applied].mean(axis=0)
            blended = blended / max(float(np.linalg.norm(blended)), 1e-12)
        words = cat.title_words(ctx.profile.desired_title)
        return SeekerView(
            query=blended.astype(np.float32),
            occupation=int(occupation[0]),
            skills=np.asarray(skills.todense()).ravel().astype(np.float32),
            n_skills=int(skills.nnz),
            title_words=words,
            applied_rows=applied,
        )

    def recommend(
        self, ctx: RequestContext, query: np.ndarray | None = None, keep_stage_outputs: bool = False
    ) -> Recommendation:
        """Run every stage; returns the top `ctx.k` with reasons."""
        t0 = time.perf_counter()
        ctx.seeker = self.seeker_view(ctx, query)
        t1 = time.perf_counter()
        ctx.timings_ms["profile"] = (t1 - t0) * 1e3
        candidates = Candidates(np.zeros(0, np.int64))
        outputs: dict[str, Candidates] = {}
        for stage in self.stages:
            start = time.perf_counter()
            candidates = stage(ctx, candidates)
            if keep_stage_outputs:
                outputs[stage.name] = candidates
            ctx.timings_ms[stage.name] = (time.perf_counter() - start) * 1e3
            ctx.counts[stage.name] = len(candidates)
        start = time.perf_counter()
        reasons = explain(ctx, self.catalog, candidates)
        ctx.timings_ms["reasons"] = (time.perf_counter() - start) * 1e3
        ctx.timings_ms["total"] = (time.perf_counter() - t0) * 1e3
        return Recommendation(candidates, reasons, outputs)
