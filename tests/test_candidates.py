"""The employer side: ground-truth responses and recruiter sessions in the simulator, the seeker
index's hard filters, the four stages over seekers, the fit model against the baseline, and the
service's candidate finder. All on the session's small market (3,000 jobs, 1,500 seekers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_store.events import EMPLOYER_EVENT_TYPES, SEEKER_EVENT_TYPES, read_events
from recsys.candidates.features import FEATURE_INDEX, FEATURE_NAMES, PairPostings, pair_features
from recsys.candidates.fit_model import MONOTONE
from recsys.candidates.pool import Posting, posting_skill_matrix, typical_skills
from recsys.candidates.reasons import explain
from recsys.candidates.recommender import CandidateRecommender
from recsys.candidates.rerank import CandidateRerank
from recsys.candidates.seeker_index import SeekerFilter
from recsys.candidates.training_data import labelled_screens
from recsys.core.folder import EMPLOYER_EVENTS_DIR, EVENTS_DIR
from recsys.data.geo import haversine_km
from recsys.lifecycle.candidate_training import (
    CandidateData,
    evaluate_candidates,
    train_candidate_model,
)
from recsys.market.employer import (
    POSITIVE_RESPONSES,
    RESPONSES,
    fit,
    positive_probability,
    read_responses,
)
from recsys.market.market import Market
from recsys.market.traffic import live_jobs
from recsys.pipeline.recommender import Recommender
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import OccupationIndex
from recsys.service.candidates import CandidateFinder
from recsys.settings import get_settings


@pytest.fixture(scope="module")
def data(small_market: tuple[Market, Path]) -> CandidateData:
    market, folder = small_market
    return CandidateData.build(
        market, folder, TitleEncoder.load("base"), get_settings().artifacts_dir
    )


def _now(market: Market, day: float) -> np.datetime64:
    return market.start + np.timedelta64(int(day * 86_400), "s")


def test_every_apply_gets_one_response_and_fit_drives_it(small_market: tuple[Market, Path]):
    market, folder = small_market
    events = read_events(folder / EVENTS_DIR)
    responses = read_responses(folder)
    applies = events[events["type"] == "apply"]
    assert set(responses["event_id"]) == set(applies["event_id"])
    assert set(responses["response"]) <= set(RESPONSES)
    rows_u = pd.Series(np.arange(len(market.seekers)), index=market.seekers["user_id"])
    rows_j = pd.Series(np.arange(len(market.jobs)), index=market.jobs["job_id"])
    s = rows_u.loc[responses["user_id"]].to_numpy()
    j = rows_j.loc[responses["job_id"]].to_numpy()
    p = positive_probability(market, s, j)
    positive = responses["response"].isin(POSITIVE_RESPONSES).to_numpy()
    # the better half by true fit is answered positively more often than the worse half
    high = p >= np.median(p)
    assert positive[high].mean() > positive[~high].mean() + 0.05
    assert fit(market, s, j).min() > 0.0 and fit(market, s, j).max() < 1.0


def test_employer_events_stay_out_of_the_seekers_log(small_market: tuple[Market, Path]):
    _, folder = small_market
    seeker = read_events(folder / EVENTS_DIR)
    employer = read_events(folder / EMPLOYER_EVENTS_DIR)
    assert set(seeker["type"]) <= set(SEEKER_EVENT_TYPES)
    assert set(employer["type"]) == set(EMPLOYER_EVENT_TYPES)
    sessions = employer[employer["type"] == "candidate_impression"]
    assert sessions.groupby("request_id").size().min() == 20
    views = employer[employer["type"] == "candidate_view"]
    assert len(views) < len(sessions)


def test_market_seekers_carry_discoverable_and_relocation(small_market: tuple[Market, Path]):
    market, _ = small_market
    share = market.seekers["discoverable"].mean()
    assert 0.8 < share < 0.97
    assert (market.seekers["willing_to_relocate"] == market.seekers["relocate"]).all()


def test_hard_filters_hold_for_every_returned_seeker(data: CandidateData):
    index = data.index()
    onsite = np.flatnonzero(~data.market.jobs["remote"].to_numpy(bool))
    posting = data.posting(int(onsite[0]))
    excluded = np.arange(0, 50)
    filters = SeekerFilter(radius_km=100.0, level_band=(1, 1), exclude_rows=excluded)
    rows, scores = index.search(data.job_embeddings[onsite[0]], 500, posting, filters)
    pool = data.pool
    assert len(rows) > 0 and np.all(np.diff(scores) <= 1e-6)
    assert pool.discoverable[rows].all()
    assert not np.isin(rows, excluded).any()
    km = haversine_km(posting.lat, posting.lon, pool.lat[rows], pool.lon[rows])
    assert ((km <= 100.0 + 1e-6) | pool.willing_to_relocate[rows]).all()
    level = pool.level[rows].astype(int)
    assert ((np.abs(level - posting.seniority) <= 1) | (level < 0)).all()
    # exactly the allowed rows are searchable: a huge k returns all of them
    everyone, _ = index.search(data.job_embeddings[onsite[0]], 10**6, posting, filters)
    assert len(everyone) == int(index.allowed_mask(posting, filters).sum())


def test_serving_and_training_compute_the_same_rows(data: CandidateData):
    market = data.market
    job_row, seeker_rows = 5, np.arange(10, 30)
    posting = data.posting(job_row)
    similarity = data.seeker_embeddings[seeker_rows] @ data.job_embeddings[job_row]
    served = pair_features(
        data.pool,
        seeker_rows,
        PairPostings.repeat(posting, len(seeker_rows)),
        similarity,
        similarity,
    )
    logged = pair_features(
        data.pool,
        seeker_rows,
        PairPostings.from_catalog(
            market.jobs, data.job_skills, data.job_occupation, np.full(len(seeker_rows), job_row)
        ),
        similarity,
        similarity,
    )
    assert served.shape == (len(seeker_rows), len(FEATURE_NAMES))
    np.testing.assert_array_equal(served, logged)


def test_a_posting_without_known_skills_is_matched_on_its_occupations_typical_ones(
    data: CandidateData,
) -> None:
    """A real dump's skill categories ("Information Technology") name no taxonomy skill: the
    posting is matched on its occupation's typical skills, alike in training and serving, and
    the reasons say they are typical, not required."""
    tax, job_row = data.market.taxonomy, 5
    occupation = int(data.job_occupation[job_row])
    row = data.market.jobs.iloc[job_row].to_dict()
    row["skills"] = ["Information Technology", "Sales"]
    posting = Posting.from_row(row, tax, occupation)
    assert posting.skills_typical and posting.skills == typical_skills(tax, occupation)
    assert posting.skills and set(posting.skills) <= set(tax.skills_for(tax.codes[occupation]))
    trained_on = posting_skill_matrix(tax, [row["skills"]], np.array([occupation]))
    assert (trained_on != posting.skill_vector).nnz == 0
    listed = Posting.from_row(data.market.jobs.iloc[job_row].to_dict(), tax, occupation)
    assert not listed.skills_typical, "a posting with known skills keeps its own"
    assert not Posting.from_row(row, tax, -1).skills_typical, "no occupation, nothing to infer"
    rows = np.arange(3)
    why = explain(posting, data.pool, rows, np.full(3, 400.0))
    assert all("skills typical for" in w.reasons[0] for w in why), why[0].reasons
    assert all(len(w.skills_matched) + len(w.skills_missing) == len(posting.skills) for w in why)


def test_screens_label_a_shortlist_from_its_own_list_only():
    ts = pd.Timestamp("2026-01-05 09:00", tz="UTC")
    employer = pd.DataFrame(
        {
            "type": ["candidate_impression"] * 3 + ["shortlist", "shortlist"],
            "request_id": ["list-a", "list-a", "list-b", "list-a", "apply-7"],
            "user_id": ["u1", "u2", "u1", "u1", "u2"],
            "job_id": [10, 10, 10, 10, 10],
            "ts": [ts] * 5,
        }
    )
    screens = labelled_screens(employer)
    got = {(r.user_id, r.positive) for r in screens.itertuples()}
    # u1 shortlisted from list a, not from list b; u2's shortlist answered an application
    assert sorted(got) == [("u1", False), ("u1", True), ("u2", False)]
    assert not screens["applied"].any()


@pytest.fixture(scope="module")
def trained(data: CandidateData):
    return train_candidate_model(data, held_out_day=2, seed=7)


def test_fit_model_is_monotone_where_the_direction_is_known(data: CandidateData, trained):
    model, stats = trained
    assert stats["recruiter screens"] > 0 and stats["screen shortlists"] > 0
    rows = data.training_set(0, 1).X[:200]
    for name, direction in MONOTONE.items():
        lo, hi = rows.copy(), rows.copy()
        column = rows[:, FEATURE_INDEX[name]]
        step = np.nanmax(column) - np.nanmin(column) + 1.0
        hi[:, FEATURE_INDEX[name]] = np.nan_to_num(column, nan=0.0) + step
        lo[:, FEATURE_INDEX[name]] = np.nan_to_num(column, nan=0.0)
        change = direction * (model.predict(hi) - model.predict(lo))
        assert (change >= -1e-6).all(), name


def test_fit_model_beats_the_baseline_on_the_held_out_day(data: CandidateData, trained):
    model, stats = trained
    assert stats["positive answers"] > 20
    results = evaluate_candidates(data, {"model": model}, day=2, n_postings=60)
    r = results["model"]
    assert r["postings"] == 60 and r["seekers"] > 1_000
    assert r["ranker ndcg@10 (expected)"] > 1.3 * r["baseline ndcg@10 (expected)"]
    assert r["oracle ndcg@10 (expected)"] == pytest.approx(1.0)


def test_recommender_serves_k_with_reasons_and_caps_exposure(data: CandidateData, trained):
    model, _ = trained
    market = data.market
    rec = CandidateRecommender(data.index(), model, rerank=CandidateRerank(exposure_cap=1))
    job_row = int(live_jobs(market, 2.5)[0])
    posting = data.posting(job_row)
    now = _now(market, 2.5)
    first = rec.recommend(posting, data.job_embeddings[job_row], 10, now, employer="a")
    assert len(first.rows) == 10 and np.all(np.diff(first.scores) <= 1e-9)
    for row, why in zip(first.rows.tolist(), first.reasons, strict=True):
        assert sorted(why.skills_matched + why.skills_missing) == sorted(posting.skills)
        have = set(data.pool.skill_names[row])
        assert set(why.skills_matched) <= have and not set(why.skills_missing) & have
        assert why.reasons
    assert set(first.timings_ms) >= {"recall", "coarse", "fine", "rerank", "reasons", "total"}
    # the same employer may see them again; another one may not (cap of one employer)
    again = rec.recommend(posting, data.job_embeddings[job_row], 10, now, employer="a")
    assert set(again.rows) == set(first.rows)
    other = rec.recommend(posting, data.job_embeddings[job_row], 10, now, employer="b")
    assert not set(other.rows) & set(first.rows)
    # a new day opens a new window
    later = rec.recommend(
        posting, data.job_embeddings[job_row], 10, _now(market, 3.5), employer="b"
    )
    assert set(later.rows) & set(first.rows)


def test_finder_excludes_applicants_and_shapes_the_response(
    small_market: tuple[Market, Path], recommender: Recommender, data: CandidateData, trained
):
    market, folder = small_market
    model, _ = trained
    encoder = TitleEncoder.load("base")
    occupations = OccupationIndex.load_or_build(
        encoder, market.taxonomy, get_settings().artifacts_dir
    )
    finder = CandidateFinder.build(
        market.seekers,
        market.taxonomy,
        encoder,
        occupations,
        [folder / EVENTS_DIR, folder / EMPLOYER_EVENTS_DIR],
        model,
        "test",
    )
    events = read_events(folder / EVENTS_DIR)
    applied = events[events["type"] == "apply"]
    job_id = int(applied["job_id"].value_counts().index[0])
    catalog = recommender.catalog
    row = int(catalog.rows_of(np.array([job_id]))[0])
    # the service codes seekers' occupations as training did
    np.testing.assert_array_equal(finder.recommender.index.pool.occupation, data.pool.occupation)
    body = finder.candidates(catalog, row, 50, None, _now(market, 3.0))
    assert body["job_id"] == job_id and len(body["items"]) == 50
    users = {item["user_id"] for item in body["items"]}
    assert not users & set(applied.loc[applied["job_id"] == job_id, "user_id"])
    hidden = set(market.seekers.loc[~market.seekers["discoverable"], "user_id"])
    assert not users & hidden
    item = body["items"][0]
    assert set(item) == {
        "user_id",
        "score",
        "distance_km",
        "reasons",
        "skills_matched",
        "skills_missing",
        "seniority",
        "last_active_days",
    }
    assert any(i["last_active_days"] is not None for i in body["items"])
    assert body["debug"]["timings_ms"]["total"] > 0


@pytest.mark.slow
def test_retrain_step_trains_gates_and_registers_the_candidate_ranker(
    small_market: tuple[Market, Path], tmp_path: Path
):
    """The retrain's candidate_ranker step on the small market, twice, with an embedded MLflow:
    the first date promotes (no champion yet), the second is gated against that champion; the
    finder's champion loader then serves the registered model."""
    from datetime import timedelta

    from recsys.lifecycle.retrain import RetrainJob, run_step
    from recsys.registry.mlflow_registry import CHAMPION, ModelRegistry
    from recsys.service.candidates import CANDIDATE_MODEL, load_candidate_champion

    market, folder = small_market
    base = get_settings()
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    for cached in base.artifacts_dir.glob("occupation_titles_*"):  # the classifier's title cache
        (artifacts / cached.name).symlink_to(cached.resolve())
    settings = base.model_copy(
        update={"artifacts_dir": artifacts, "serve_market_dir": folder, "encoder_model": "base"}
    )
    first = run_step(
        "candidate_ranker", RetrainJob.of(market.config.start + timedelta(days=2), settings)
    )
    assert first["trained"] and first["promoted"], first
    assert "no champion yet" in first["reason"]
    assert (artifacts / "retrain").is_dir()
    second = run_step(
        "candidate_ranker", RetrainJob.of(market.config.start + timedelta(days=1), settings)
    )
    assert "champion" in second["table"] and "vs champion" in second["reason"]
    registry = ModelRegistry.from_settings(settings)
    champion = registry.by_alias(CANDIDATE_MODEL, CHAMPION)
    assert champion is not None
    assert champion.version == (second["version"] if second["promoted"] else first["version"])
    loaded = load_candidate_champion(registry)
    assert loaded is not None and loaded[1] == champion.version
    # a date already decided returns its record instead of registering again
    again = run_step(
        "candidate_ranker", RetrainJob.of(market.config.start + timedelta(days=2), settings)
    )
    assert again == first


@pytest.mark.slow  # builds a whole service; the HTTP path is in tests/test_employer_api.py
def test_service_answers_candidates_and_refuses_bad_input(
    small_market: tuple[Market, Path], tmp_path: Path
):
    """`RecommendationService.candidates` over the catalog database (coarse rules: no champion),
    the employer side built on the first request; unknown postings and bad k are refused."""
    from api_service import make_service

    from recsys.service.postings import UnknownJobError

    market, _ = small_market
    service = make_service(market, "sqlite", tmp_path)
    job_id = int(market.jobs["job_id"].iloc[0])
    body = service.candidates(job_id, 10, 80.0)
    assert body["job_id"] == job_id and 0 < len(body["items"]) <= 10
    assert body["model_version"] == "coarse-only"
    assert all(item["reasons"] for item in body["items"])
    with pytest.raises(UnknownJobError):
        service.candidates(1, 10, None)
    with pytest.raises(ValueError, match="k must be"):
        service.candidates(job_id, 0, None)
    with pytest.raises(ValueError, match="radius_km"):
        service.candidates(job_id, 10, -5.0)
