"""Seekers' histories replayed from an event log: what the online store would hold for them.

The closed loop, the market folder served from the CLI and the offline evaluations rebuild
histories this way; the running service reads them from the online store instead
(`recsys.service.seekers.request_history`), with the same constants.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from recsys.core.context import History

#: a seeker counts as new this long after first being seen.
NEW_SEEKER_DAYS: Final[int] = 2
#: days since last activity for a seeker never seen active.
NEVER_ACTIVE_DAYS: Final[float] = 365.0


@dataclass
class ReplayedHistories:
    """Per seeker row of a seekers table: jobs applied to, clicks, impressions, last activity."""

    applied: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    clicks: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    impressions: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    last_active: dict[int, np.datetime64] = field(default_factory=dict)

    def history(self, seekers: pd.DataFrame, row: int, now: np.datetime64) -> History:
        """The History of seeker `row` of `seekers` at `now`."""
        applied = self.applied.get(row, [])
        first_seen = np.datetime64(seekers["first_seen"].iat[row], "s")
        last = self.last_active.get(row)
        since = (
            (now - last).astype("timedelta64[s]").astype(float) / 86400
            if last
            else NEVER_ACTIVE_DAYS
        )
        return History(
            applied_job_ids=np.array(applied[-50:], dtype=np.int64),
            n_applies=len(applied),
            n_clicks=self.clicks.get(row, 0),
            n_impressions=self.impressions.get(row, 0),
            days_since_last_activity=since,
            is_new=bool((now - first_seen) < np.timedelta64(NEW_SEEKER_DAYS, "D")),
        )

    def observe(self, seekers: pd.DataFrame, events: pd.DataFrame) -> None:
        """Fold events into the histories (per seeker; counts are vector ops per event type)."""
        rows = pd.Series(np.arange(len(seekers)), index=seekers["user_id"])
        for kind, frame in events.groupby("type"):
            seeker = rows[frame["user_id"]].to_numpy()
            if kind == "apply":
                for s, j in zip(seeker.tolist(), frame["job_id"].tolist()):
                    self.applied[s].append(j)
                continue
            counter = self.clicks if kind == "click" else self.impressions
            for s, n in pd.Series(seeker).value_counts().items():
                counter[int(s)] += int(n)
            if kind == "impression":
                last = frame.groupby(seeker)["ts"].max()
                for s, t in last.items():
                    self.last_active[int(s)] = np.datetime64(t.tz_localize(None), "s")
