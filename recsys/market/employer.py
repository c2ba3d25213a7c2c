"""The employer side of the simulated market: how employers answer applications and what
recruiters do with candidate lists. Ground truth: no trained model reads it.

Job-side fit of seeker s for job j (what the employer wants, not what the seeker wants):

    fit(s, j) = sigmoid(FIT_BIAS + sum_k FIT_WEIGHTS[k] * component_k(s, j) + noise(s, j))

with components in [0, 1]:
  coverage    share of the job's required skills the seeker has;
  occupation  taxonomy affinity of the seeker's home occupation and the job's true occupation
              (the apply model's `occupation` component);
  seniority   exp(-gap^2 / 2), gap = job level - seeker level; an under-qualified seeker's gap
              counts UNDER_QUALIFIED x, an over-qualified one's OVER_QUALIFIED x (employers mind
              missing experience more than surplus);
  location    exp(-km / 50) for an on-site job; a relocating seeker keeps at least .5; remote 1;
noise(s, j) ~ N(0, .35) is a fixed hash of (seeker, job, seed + FIT_SEED_OFFSET), so fit is a
deterministic function.

Every application draws one response, a ladder (each step needs the one before):
  viewed       P_VIEWED;
  shortlisted  fit;
  interviewed  P_INTERVIEW * fit;
  hired        P_HIRE * fit.
A *positive* response is shortlisted or further, so P(positive | apply) = P_VIEWED * fit, and
the oracle value of showing seeker s to the employer of j is
    relevance(s, j) * P_VIEWED * fit(s, j)
(the seeker applies, and the employer answers positively). `positive_probability` and
`oracle_value` compute them.

The simulator writes each application's response to `truth/responses/date=.../part-0.parquet`
(RESPONSE_COLUMNS) and logs what the board sees of it as a `shortlist` employer event. Recruiters
browse candidate lists (`recruiter_sessions`): each slot is a `candidate_impression`; a candidate
is viewed with examination(slot) * sqrt(fit), shortlisted after a view with sqrt(fit) and
contacted after a shortlist with P_CONTACT. Employer events go to `employer_events/` next to the
seekers' `events/`, so that seeker histories and job popularity count only what seekers did.

Seekers carry `discoverable` (`recsys.market.generate.NOT_DISCOVERABLE_SHARE` opted out of being
shown to employers) and `willing_to_relocate` (the seekers who relocate).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from feature_store.events import partition_days, partition_dir, write_partition
from recsys.core.folder import EMPLOYER_EVENTS_DIR
from recsys.data.geo import haversine_km
from recsys.market.behaviour import examination, pair_noise, sigmoid
from recsys.market.market import Market
from recsys.market.traffic import live_jobs

FIT_BIAS: Final[float] = -4.0
FIT_WEIGHTS: Final[dict[str, float]] = {
    "coverage": 3.0,
    "occupation": 2.0,
    "seniority": 1.5,
    "location": 1.0,
}
UNDER_QUALIFIED: Final[float] = 1.5
OVER_QUALIFIED: Final[float] = 0.5
FIT_SEED_OFFSET: Final[int] = 7_919
P_VIEWED: Final[float] = 0.85
P_INTERVIEW: Final[float] = 0.6
P_HIRE: Final[float] = 0.4
P_CONTACT: Final[float] = 0.5
#: the response ladder, lowest first; "none" is an application nobody opened
RESPONSES: Final[tuple[str, ...]] = ("none", "viewed", "shortlisted", "interviewed", "hired")
POSITIVE_RESPONSES: Final[frozenset[str]] = frozenset({"shortlisted", "interviewed", "hired"})
RESPONSE_COLUMNS: Final[tuple[str, ...]] = ("event_id", "ts", "user_id", "job_id", "response")
RESPONSES_DIR: Final[str] = "truth/responses"
#: share of live postings whose recruiter browses a candidate list on a day, and its length
SESSION_SHARE: Final[float] = 0.02
SESSION_LENGTH: Final[int] = 20


def fit_components(market: Market, s: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
    """Each job-side fit component for the pairs (s[i], j[i])."""
    S, J = market.model.seekers, market.model.jobs
    apply_side = market.model.components(s, j, 0.0)
    gap = J.seniority[j].astype(np.float64) - S.level[s]
    gap = np.where(gap > 0, UNDER_QUALIFIED * gap, OVER_QUALIFIED * gap)
    km = haversine_km(S.lat[s], S.lon[s], J.lat[j], J.lon[j])
    onsite = np.where(S.relocate[s], np.maximum(np.exp(-km / 50.0), 0.5), np.exp(-km / 50.0))
    return {
        "coverage": apply_side["skills"],
        "occupation": apply_side["occupation"],
        "seniority": np.exp(-(gap**2) / 2.0),
        "location": np.where(J.remote[j], 1.0, onsite),
    }


def fit(market: Market, s: np.ndarray, j: np.ndarray) -> np.ndarray:
    """True job-side fit in [0, 1] for the pairs (s[i], j[i]) (module docstring)."""
    s, j = np.asarray(s), np.asarray(j)
    z = FIT_BIAS + pair_noise(s, j, market.config.seed + FIT_SEED_OFFSET)
    for name, value in fit_components(market, s, j).items():
        z = z + FIT_WEIGHTS[name] * value
    return sigmoid(z)


def positive_probability(market: Market, s: np.ndarray, j: np.ndarray) -> np.ndarray:
    """P(shortlisted or further | the seeker applied)."""
    return P_VIEWED * fit(market, s, j)


def oracle_value(market: Market, s: np.ndarray, j: np.ndarray, day: float) -> np.ndarray:
    """P(the seeker applies and the employer answers positively): the employer side's oracle."""
    return market.model.relevance(s, j, day) * positive_probability(market, s, j)


def draw_responses(market: Market, applies: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One response per apply event (RESPONSE_COLUMNS), drawn up the ladder."""
    s, j = market_rows(market, applies)
    f = fit(market, s, j)
    u = rng.random((4, len(applies)))
    steps = np.stack([u[0] < P_VIEWED, u[1] < f, u[2] < P_INTERVIEW * f, u[3] < P_HIRE * f])
    reached = np.cumprod(steps, axis=0).sum(axis=0)
    delay = pd.to_timedelta(rng.integers(3_600, 3 * 86_400, len(applies)), unit="s")
    ts = applies["ts"].reset_index(drop=True) + delay
    return pd.DataFrame(
        {
            "event_id": applies["event_id"].to_numpy(),
            "ts": ts,
            "user_id": applies["user_id"].to_numpy(),
            "job_id": applies["job_id"].to_numpy(np.int64),
            "response": np.asarray(RESPONSES, dtype=object)[reached],
        }
    )


def market_rows(market: Market, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(seeker rows, job rows) of an event frame's user and job ids."""
    row_of_user = pd.Series(np.arange(len(market.seekers)), index=market.seekers["user_id"])
    row_of_job = pd.Series(np.arange(len(market.jobs)), index=market.jobs["job_id"])
    return (
        row_of_user.loc[events["user_id"]].to_numpy(),
        row_of_job.loc[events["job_id"]].to_numpy(),
    )


def response_events(responses: pd.DataFrame) -> pd.DataFrame:
    """What the board sees of the responses: a `shortlist` event for every positive one."""
    positive = responses[responses["response"].isin(POSITIVE_RESPONSES)].reset_index(drop=True)
    return pd.DataFrame(
        {
            "event_id": positive["event_id"].astype(str) + ":shortlist",
            "ts": positive["ts"],
            "user_id": positive["user_id"].to_numpy(),
            "job_id": positive["job_id"].to_numpy(np.int64),
            "type": "shortlist",
            "request_id": positive["event_id"].astype(str).to_numpy(),
            "position": np.full(len(positive), -1, np.int16),
        }
    )


def discoverable_rows(market: Market) -> np.ndarray:
    """Seeker rows employers may be shown (all of them for a market without the column)."""
    if "discoverable" not in market.seekers.columns:
        return np.arange(len(market.seekers))
    return np.flatnonzero(market.seekers["discoverable"].to_numpy(bool))


def recruiter_sessions(market: Market, day: int, rng: np.random.Generator) -> pd.DataFrame:
    """One day's recruiter sessions as employer events: a share of live postings each browse
    SESSION_LENGTH discoverable seekers, half from the posting's SOC minor group, the rest
    random, shuffled (a logging policy broad enough to learn from)."""
    live = live_jobs(market, day + 0.5)
    jobs = live[rng.random(len(live)) < SESSION_SHARE]
    pool = discoverable_rows(market)
    if len(jobs) == 0 or len(pool) == 0:
        return pd.DataFrame(columns=["event_id", "ts", "user_id", "job_id", "type"])
    minor = market.taxonomy.level_ids("minor")
    pool_group = minor[market.seeker_occupation[pool]]
    order = np.argsort(pool_group, kind="stable")
    want = minor[market.job_occupation[jobs]]
    lo = np.searchsorted(pool_group[order], want, side="left")
    size = np.searchsorted(pool_group[order], want, side="right") - lo
    half = SESSION_LENGTH // 2
    pick = lo[:, None] + (rng.random((len(jobs), half)) * np.maximum(size, 1)[:, None]).astype(int)
    near = pool[order[np.minimum(pick, len(pool) - 1)]]
    near = np.where((size > 0)[:, None], near, pool[rng.integers(0, len(pool), near.shape)])
    rest = pool[rng.integers(0, len(pool), (len(jobs), SESSION_LENGTH - half))]
    lists = np.concatenate([near, rest], axis=1)
    lists = np.take_along_axis(lists, rng.random(lists.shape).argsort(axis=1), axis=1)
    return session_events(market, day, jobs, lists, rng)


def session_events(
    market: Market, day: int, jobs: np.ndarray, lists: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Employer events of recruiters browsing `lists` (seeker rows, one row per job)."""
    n, length = lists.shape
    seeker, job = lists.ravel(), np.repeat(jobs, length)
    position = np.tile(np.arange(length), n)
    sq = np.sqrt(fit(market, seeker, job))
    viewed = rng.random(len(job)) < examination(position) * sq
    shortlisted = viewed & (rng.random(len(job)) < sq)
    contacted = shortlisted & (rng.random(len(job)) < P_CONTACT)
    start = market.start + np.timedelta64(day * 86_400, "s")
    ts = np.repeat(start + rng.integers(8 * 3600, 18 * 3600, n).astype("timedelta64[s]"), length)
    request = np.repeat(
        np.char.add(f"rec{market.config.seed}-d{day:03d}-", np.arange(n).astype(str)), length
    ).astype(object)
    user = market.seekers["user_id"].to_numpy()[seeker]
    job_id = market.jobs["job_id"].to_numpy()[job]
    parts = []
    for offset, (kind, mask) in enumerate(
        (
            ("candidate_impression", np.ones(len(job), bool)),
            ("candidate_view", viewed),
            ("shortlist", shortlisted),
            ("contact", contacted),
        )
    ):
        pos = position[mask]
        parts.append(
            pd.DataFrame(
                {
                    "event_id": request[mask] + ":" + pos.astype(str) + ":" + kind,
                    "ts": pd.to_datetime(ts[mask] + np.timedelta64(30 * offset, "s")).tz_localize(
                        "UTC"
                    ),
                    "user_id": user[mask],
                    "job_id": job_id[mask],
                    "type": kind,
                    "request_id": request[mask],
                    "position": pos.astype(np.int16),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def employer_day(
    market: Market, out: Path, day: int, seeker_events: pd.DataFrame
) -> dict[str, int]:
    """The employer side of one simulated day: responses to the day's applies (truth and
    `shortlist` events) and recruiter sessions, written under `out`; returns event counts."""
    rng = np.random.default_rng([market.config.seed, 5_000 + day])
    applies = seeker_events[seeker_events["type"] == "apply"]
    responses = draw_responses(market, applies, rng)
    when = market.config.start + timedelta(days=day)
    folder = partition_dir(Path(out) / RESPONSES_DIR, when)
    folder.mkdir(parents=True, exist_ok=True)
    responses.to_parquet(folder / "part-0.parquet", index=False)
    events = pd.concat(
        [response_events(responses), recruiter_sessions(market, day, rng)], ignore_index=True
    )
    write_partition(Path(out) / EMPLOYER_EVENTS_DIR, when, events)
    counts = {str(k): int(v) for k, v in events["type"].value_counts().items()}
    counts["positive_response"] = int(responses["response"].isin(POSITIVE_RESPONSES).sum())
    return counts


def read_responses(folder: Path) -> pd.DataFrame:
    """Every response the simulator drew for a market folder (RESPONSE_COLUMNS)."""
    root = Path(folder) / RESPONSES_DIR
    files = [
        f for d in partition_days(root) for f in sorted(partition_dir(root, d).glob("*.parquet"))
    ]
    if not files:
        return pd.DataFrame({c: [] for c in RESPONSE_COLUMNS})
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
