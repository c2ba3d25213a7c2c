"""Invariants of the simulated market and its ground-truth apply model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from feature_store.events import EVENT_TYPES, read_events
from recsys.data.taxonomy import Taxonomy
from recsys.market.behaviour import WEIGHTS, ApplyModel, examination, relevance_from_components
from recsys.market.config import MarketConfig
from recsys.market.market import Market, generate_market
from recsys.market.simulate import simulate_days
from recsys.market.summary import oracle_vs_random
from recsys.market.titles import decorate_titles, noisy_titles


def _pairs(market: Market, n: int = 5_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, len(market.seekers), n), rng.integers(0, len(market.jobs), n)


def test_probabilities_lie_in_unit_interval(small_market: tuple[Market, Path]) -> None:
    market, _ = small_market
    s, j = _pairs(market)
    pos = np.random.default_rng(1).integers(0, 50, len(s))
    for p in (market.model.relevance(s, j, 1.0), market.model.apply_probability(s, j, pos, 1.0)):
        assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
    comps = market.model.components(s, j, 1.0)
    for name, values in comps.items():
        lo = -1.0 if name == "rating" else 0.0
        assert (values >= lo - 1e-9).all() and (values <= 1 + 1e-9).all(), name


def test_examination_decreases_with_position() -> None:
    e = examination(np.arange(100))
    assert e[0] == 1.0 and (np.diff(e) < 0).all() and (e > 0).all()


def test_relevance_rises_with_skill_overlap_all_else_equal(
    small_market: tuple[Market, Path],
) -> None:
    market, _ = small_market
    model = market.model
    s, j = 11, 23
    job_skills = model.jobs.skills.tolil(copy=True)
    seeker_skills = model.seekers.skills[s].indices
    required = np.unique(np.concatenate([seeker_skills[:4], [0, 1, 2, 3]]))
    relevance = []
    for have in range(len(required) + 1):
        # the job requires `required`; the seeker holds the first `have` of them
        job_skills[j] = 0
        job_skills[j, required] = 1
        seeker = model.seekers.skills.tolil(copy=True)
        seeker[s] = 0
        seeker[s, required[:have]] = 1
        m = ApplyModel(
            market.taxonomy,
            dataclasses.replace(model.jobs, skills=sp.csr_matrix(job_skills)),
            dataclasses.replace(model.seekers, skills=sp.csr_matrix(seeker)),
            model.seed,
        )
        relevance.append(m.relevance(np.array([s]), np.array([j]), 1.0)[0])
    assert (np.diff(relevance) > 0).all()


def test_relevance_formula_is_monotone_in_every_component() -> None:
    base = {name: np.array([0.5]) for name in WEIGHTS}
    r0 = relevance_from_components(base, np.zeros(1))[0]
    for name in WEIGHTS:
        up = dict(base, **{name: np.array([0.9])})
        assert relevance_from_components(up, np.zeros(1))[0] > r0, name


def test_oracle_beats_random_by_a_wide_margin(small_market: tuple[Market, Path]) -> None:
    market, folder = small_market
    events = read_events(folder / "events")
    scores = oracle_vs_random(market, events[events["type"] == "impression"])
    assert scores["oracle ndcg@10 (intent)"] > scores["random ndcg@10 (intent)"] + 0.25
    assert scores["oracle ndcg@10 (expected)"] == pytest.approx(1.0)
    assert scores["random ndcg@10 (expected)"] < 0.6


def test_events_are_consistent(small_market: tuple[Market, Path]) -> None:
    market, folder = small_market
    events = read_events(folder / "events")
    assert set(events["type"]) <= set(EVENT_TYPES)
    assert events["event_id"].is_unique
    counts = events["type"].value_counts()
    assert counts["impression"] > counts["click"] > counts["apply"] > 0
    key = ["request_id", "position", "job_id", "user_id"]
    shown = events[events["type"] == "impression"][key]
    for kind, parent in (("click", shown), ("apply", events[events["type"] == "click"][key])):
        child = events[events["type"] == kind][key]
        assert len(child.merge(parent, on=key)) == len(child), kind
    per_list = events[events["type"] == "impression"].groupby("request_id")["job_id"]
    assert (per_list.nunique() == per_list.size()).all(), "a job appears twice in one list"
    assert events["position"].between(0, market.config.list_length - 1).all()
    # applies concentrate at the top: the first slot converts better than the last
    imp = events[events["type"] == "impression"]["position"].value_counts()
    app = events[events["type"] == "apply"]["position"].value_counts()
    assert app.get(0, 0) / imp[0] > app.get(19, 0) / imp[19]


def test_jobs_look_like_postings(small_market: tuple[Market, Path], taxonomy: Taxonomy) -> None:
    market, _ = small_market
    jobs = market.jobs
    assert jobs["job_id"].is_unique
    assert (jobs["expires_at"] > jobs["posted_at"]).all()
    assert jobs["employer_rating"].between(1, 5).all()
    assert (jobs["salary_max"] >= jobs["salary_min"]).all()
    assert jobs[["lat", "lon"]].notna().all().all()
    # a title is an alternate title of its true occupation, decorated
    alts = [taxonomy.occupations[o].alternate_titles for o in market.job_occupation[:200]]
    cores = [any(a in t for a in alt) for t, alt in zip(jobs["title"][:200], alts)]
    assert np.mean(cores) > 0.95
    assert (
        jobs["title"] != [market.taxonomy.occupations[o].title for o in market.job_occupation]
    ).mean() > 0.9


def test_same_seed_same_market(taxonomy: Taxonomy, data_dir: Path, tmp_path: Path) -> None:
    cfg = MarketConfig(n_jobs=400, n_seekers=200, days=2, seed=3)
    frames = []
    for run in ("a", "b"):
        m = generate_market(cfg, taxonomy, data_dir)
        m.save(tmp_path / run)
        simulate_days(m, tmp_path / run)
        frames.append((m.jobs, m.seekers, read_events(tmp_path / run / "events")))
    for x, y in zip(frames[0], frames[1]):
        pd.testing.assert_frame_equal(x, y)
    other = generate_market(dataclasses.replace(cfg, seed=4), taxonomy, data_dir)
    assert not other.jobs["title"].equals(frames[0][0]["title"])


def test_saved_market_loads_with_the_same_truth(
    small_market: tuple[Market, Path], taxonomy: Taxonomy
) -> None:
    market, folder = small_market
    loaded = Market.load(folder, taxonomy)
    s, j = _pairs(market, 500)
    np.testing.assert_allclose(loaded.model.relevance(s, j, 2.0), market.model.relevance(s, j, 2.0))
    with pytest.raises(FileNotFoundError, match="market.json"):
        Market.load(folder / "events", taxonomy)


def test_title_noise_is_seeded_and_partial() -> None:
    titles = ["Senior Software Engineer", "Registered Nurse", "Accounting Manager"] * 50
    a = noisy_titles(titles, 0.5, np.random.default_rng(0))
    assert a == noisy_titles(titles, 0.5, np.random.default_rng(0))
    changed = np.mean([x != y for x, y in zip(a, titles)])
    assert 0.25 < changed < 0.75
    decorated = decorate_titles(
        ["Software Developer"] * 200,
        np.full(200, 3),
        np.ones(200, bool),
        ["15"] * 200,
        ["Python"] * 200,
        ["Austin, TX"] * 200,
        np.random.default_rng(0),
    )
    assert all("Software Developer" in t for t in decorated)
    assert any("Remote" in t for t in decorated) and any(
        t.startswith(("Senior", "Sr")) for t in decorated
    )
