"""batch_deltas: one batch of events as per-seeker and per-(job, day) deltas, both stores' input."""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_store.aggregates import MS_PER_DAY, batch_deltas


def _events(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """(user, ts, job, type) rows as a valid event batch."""
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "ts": pd.to_datetime([r[1] for r in rows], utc=True),
            "user_id": [r[0] for r in rows],
            "job_id": [r[2] for r in rows],
            "type": [r[3] for r in rows],
            "request_id": "r",
            "position": 0,
        }
    )


def test_histories_are_newest_first_bounded_and_ties_go_to_the_later_row() -> None:
    events = _events(
        [
            ("b", "2026-12-01T10:00", 1, "apply"),
            ("a", "2026-12-01T09:00", 10, "apply"),
            ("a", "2026-12-01T11:00", 11, "apply"),
            ("a", "2026-12-01T11:00", 12, "apply"),  # same time as job 11, later in the batch
            ("a", "2026-12-01T08:00", 13, "click"),
            ("a", "2026-12-01T12:00", 14, "impression"),
            ("a", "2026-12-01T13:00", 15, "shortlist"),  # an employer's event: not a's own
        ]
    )
    deltas = batch_deltas(events, max_len=2)
    a, b = deltas.users
    assert (a.user_id, b.user_id) == ("a", "b")
    assert a.applied.tolist() == [12, 11]  # 10 is the oldest of three: cut at max_len
    assert a.clicked.tolist() == [13] and b.applied.tolist() == [1] and len(b.clicked) == 0
    assert (a.n_applies, a.n_clicks, a.n_impressions) == (3, 1, 1)
    assert a.last_active_ms == pd.Timestamp("2026-12-01T12:00", tz="UTC").value // 1_000_000
    assert a.acted and b.acted


def test_popularity_counts_each_job_per_day_and_type() -> None:
    events = _events(
        [
            ("a", "2026-12-01T10:00", 7, "impression"),
            ("b", "2026-12-01T11:00", 7, "impression"),
            ("b", "2026-12-01T11:01", 7, "click"),
            ("a", "2026-12-02T09:00", 7, "apply"),
            ("a", "2026-12-02T09:00", 8, "impression"),
            ("c", "2026-12-02T09:00", 8, "contact"),
        ]
    )
    pop = batch_deltas(events, max_len=10).popularity
    day = pd.Timestamp("2026-12-01", tz="UTC").value // 1_000_000 // MS_PER_DAY
    got = {
        (int(r.job_id), int(r.day) - day): (int(r.impressions), int(r.clicks), int(r.applies))
        for r in pop.itertuples()
    }
    assert got == {(7, 0): (2, 1, 0), (7, 1): (0, 0, 1), (8, 1): (1, 0, 0)}


def test_employer_events_alone_give_no_deltas() -> None:
    deltas = batch_deltas(_events([("a", "2026-12-01T10:00", 7, "contact")]), max_len=10)
    assert deltas.users == [] and deltas.popularity.empty
    assert np.array_equal(
        deltas.popularity.columns, ["job_id", "day", "impressions", "clicks", "applies"]
    )
