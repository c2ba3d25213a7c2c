"""The employer side of the running service: candidates for a posting, from the seeker index
and the champion candidate ranker.

`CandidateFinder` is built at start from the catalog database's seeker profiles (embedded with
the serving encoder, occupations inferred as the seeker side's are) and the event log (who applied
to or was contacted for which posting: excluded from its candidates; when each seeker was last
active). It serves through a `CandidateRecommender`; `CandidateChampionFollower` swaps in the
registry's `candidate-ranker` champion when the alias moves, as `recsys.service.champion` does for
the apply ranker. Seekers stored after the start are not candidates until the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from feature_store.events import read_events
from recsys.candidates.fit_model import FitModel
from recsys.candidates.pool import Posting, SeekerPool, infer_seeker_occupations
from recsys.candidates.recommender import CandidateRecommender
from recsys.candidates.seeker_index import SeekerIndex
from recsys.core.catalog import ServingCatalog
from recsys.data.taxonomy import Taxonomy
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import OccupationIndex
from recsys.registry.mlflow_registry import CHAMPION, ModelRegistry, Version
from recsys.service.champion import AliasFollower

log = logging.getLogger(__name__)

#: the registered model name of the candidate ranker
CANDIDATE_MODEL: Final[str] = "candidate-ranker"
#: event types that take a seeker out of a posting's candidates
EXCLUDING_EVENTS: Final[tuple[str, ...]] = ("apply", "contact")


def load_candidate_champion(registry: ModelRegistry) -> tuple[FitModel, str] | None:
    """(model, version) of the registry's candidate-ranker champion, None when there is none;
    raises RegistryUnavailableError, or ValueError for a model of another feature list."""
    version = registry.by_alias(CANDIDATE_MODEL, CHAMPION)
    if version is None:
        return None
    return FitModel.load(registry.download(version)), version.version


class CandidateFinder:
    """Candidates for postings of one serving catalog (module docstring)."""

    def __init__(
        self,
        recommender: CandidateRecommender,
        taxonomy: Taxonomy,
        excluded: pd.DataFrame,
        model_version: str = "coarse-only",
    ):
        self.recommender = recommender
        self.taxonomy = taxonomy
        self.model_version = model_version
        pool = recommender.index.pool
        rows = excluded["user_id"].map(pool.row_of)
        known = rows.notna().to_numpy()
        pairs = pd.DataFrame(
            {"job_id": excluded["job_id"].to_numpy(np.int64)[known], "row": rows[known].astype(int)}
        )
        self._excluded = {
            int(job): group.to_numpy(np.int64) for job, group in pairs.groupby("job_id")["row"]
        }

    @classmethod
    def build(
        cls,
        seekers: pd.DataFrame,
        taxonomy: Taxonomy,
        encoder: TitleEncoder,
        occupations: OccupationIndex,
        log_dirs: list[Path],
        model: FitModel | None = None,
        model_version: str = "coarse-only",
    ) -> CandidateFinder:
        """Embed and classify the seekers; read exclusions and activity from the event logs."""
        pool = SeekerPool.from_frame(seekers, taxonomy)
        embeddings = encoder.encode(pool.title.tolist())
        pool.occupation[:] = infer_seeker_occupations(occupations, embeddings, pool.skills)
        events = pd.concat([read_events(d) for d in log_dirs], ignore_index=True)
        seeker_side = events[events["type"].isin(("impression", "click", "apply"))]
        pool.mark_active(
            seeker_side["user_id"].to_numpy(),
            seeker_side["ts"].dt.tz_localize(None).to_numpy("datetime64[s]"),
        )
        excluded = events.loc[events["type"].isin(EXCLUDING_EVENTS), ["user_id", "job_id"]]
        index = SeekerIndex(pool, embeddings, encoder.fingerprint)
        return cls(CandidateRecommender(index, model), taxonomy, excluded, model_version)

    def hide(self, user_ids: list[str]) -> None:
        """Take seekers out of every later candidate list (opted out or deleted)."""
        self._set_discoverable(user_ids, False)

    def show(self, user_id: str) -> None:
        """Let a seeker who opted back in be a candidate again (a seeker stored after the build
        is not in the pool until the next start)."""
        self._set_discoverable([user_id], True)

    def _set_discoverable(self, user_ids: list[str], flag: bool) -> None:
        """Copy, change, swap: a request in flight keeps reading the flags it started with."""
        pool = self.recommender.index.pool
        flags = pool.discoverable.copy()
        flags[pool.rows(np.asarray(user_ids, dtype=object))] = flag
        pool.discoverable = flags

    def swap_model(self, model: FitModel, version: str) -> None:
        """Serve `model` from the next request on (one assignment)."""
        self.recommender = self.recommender.with_ranker(model)
        self.model_version = version

    def candidates(
        self,
        catalog: ServingCatalog,
        row: int,
        k: int,
        radius_km: float | None,
        now: np.datetime64,
    ) -> dict[str, Any]:
        """The response body of `GET /v1/jobs/{id}/candidates` for the posting in catalog `row`."""
        t0 = time.perf_counter()
        job = catalog.jobs.iloc[row].to_dict()
        posting = Posting.from_row(job, self.taxonomy, int(catalog.occupation[row]))
        rec = self.recommender  # read once: a model swapped in meanwhile serves the next request
        result = rec.recommend(
            posting,
            catalog.embeddings[row],
            k,
            now,
            radius_km=radius_km,
            employer=str(job.get("company_id", "")),
            exclude_rows=self._excluded.get(posting.job_id),
        )
        pool = rec.index.pool
        items = [
            {
                "user_id": str(pool.user_id[r]),
                "score": float(score),
                "distance_km": None if why.distance_km is None else round(why.distance_km, 1),
                "reasons": why.reasons,
                "skills_matched": why.skills_matched,
                "skills_missing": why.skills_missing,
                "seniority": why.seniority,
                "last_active_days": why.last_active_days,
            }
            for r, score, why in zip(
                result.rows.tolist(), result.scores.tolist(), result.reasons, strict=True
            )
        ]
        timings = dict(result.timings_ms)
        timings["service_total"] = (time.perf_counter() - t0) * 1e3
        return {
            "job_id": posting.job_id,
            "items": items,
            "model_version": self.model_version,
            "debug": {"timings_ms": timings, "counts": result.counts},
        }


class CandidateChampionFollower(AliasFollower):
    """A thread that swaps a new candidate-ranker champion into a running finder."""

    model_name = CANDIDATE_MODEL
    what = "candidate ranker"

    def __init__(
        self,
        finder: CandidateFinder | LazyCandidateFinder,
        registry: ModelRegistry,
        poll_s: float,
        loaded_version: str | None,
    ):
        self.finder = finder
        super().__init__(registry, poll_s, loaded_version)

    def adopt(self, version: Version) -> str:
        label = f"{CANDIDATE_MODEL}:v{version.version}"
        self.finder.swap_model(FitModel.load(self.registry.download(version)), label)
        return label


class LazyCandidateFinder:
    """Builds the `CandidateFinder` on the first candidates request (embedding every stored
    seeker takes seconds to minutes), so a service that never answers employers starts as fast
    as before; a model swapped in before then is used at the build.

    A request names the encoder of the catalog it reads (`candidates(..., encoder=...)`): after
    the service swapped in a new title encoder, the first request with it builds the finder again
    over seekers embedded by that encoder, so a posting's vector and the seekers' always come
    from one encoder.
    """

    def __init__(
        self,
        seekers: Any,
        taxonomy: Taxonomy,
        encoder: TitleEncoder,
        occupations: OccupationIndex,
        log_dirs: list[Path],
        model: FitModel | None = None,
        model_version: str = "coarse-only",
    ):
        """`seekers`: a callable returning the seeker frame (read at the build)."""
        self._args = (seekers, taxonomy, log_dirs)
        self._encoder, self._occupations = encoder, occupations
        self._model, self._version = model, model_version
        self._finder: CandidateFinder | None = None
        self._lock = threading.Lock()

    def finder(
        self, encoder: TitleEncoder | None = None, occupations: OccupationIndex | None = None
    ) -> CandidateFinder:
        """The finder over seekers embedded by `encoder` (default: the one it was built with),
        built now when there is none for that encoder."""
        with self._lock:
            if encoder is not None and encoder.fingerprint != self._encoder.fingerprint:
                if occupations is None or occupations.fingerprint != encoder.fingerprint:
                    raise ValueError("the occupations must come from the encoder given")
                self._encoder, self._occupations, self._finder = encoder, occupations, None
            if self._finder is None:
                seekers, taxonomy, log_dirs = self._args
                self._finder = CandidateFinder.build(
                    seekers(),
                    taxonomy,
                    self._encoder,
                    self._occupations,
                    log_dirs,
                    self._model,
                    self._version,
                )
            return self._finder

    def swap_model(self, model: FitModel, version: str) -> None:
        with self._lock:
            self._model, self._version = model, version
            if self._finder is not None:
                self._finder.swap_model(model, version)

    def hide(self, user_ids: list[str]) -> None:
        if self._finder is not None:  # a finder built later reads the flags from the database
            self._finder.hide(user_ids)

    def show(self, user_id: str) -> None:
        if self._finder is not None:
            self._finder.show(user_id)

    def candidates(
        self,
        catalog: ServingCatalog,
        row: int,
        k: int,
        radius_km: float | None,
        now: np.datetime64,
        encoder: TitleEncoder | None = None,
        occupations: OccupationIndex | None = None,
    ) -> dict[str, Any]:
        """`CandidateFinder.candidates` over seekers embedded by `encoder`, the encoder that
        embedded `catalog` (see the class docstring)."""
        finder = self.finder(encoder, occupations)
        return finder.candidates(catalog, row, k, radius_km, now)
