"""The experiment log: the team of every interleaved slot, next to the event log it is joined to.

Impressions, clicks and applies already carry (request id, position); the log adds which ranker
filled each slot, one Parquet partition per day under `<root>/date=YYYY-MM-DD/`, so the winner
is recomputed from the logs alone at any time (`recsys experiments show`) and a replica needs no
shared state to serve its share of the experiment.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from recsys.experiments.interleaving import CHALLENGER, CHAMPION, Outcome, credit, outcome

#: the columns of the experiment log
TEAM_COLUMNS: Final[tuple[str, ...]] = ("experiment", "request_id", "position", "team")
TEAM_NAMES: Final[dict[int, str]] = {CHAMPION: "champion", CHALLENGER: "challenger"}


def team_frame(experiment: str, request_ids: np.ndarray, team: np.ndarray) -> pd.DataFrame:
    """One row per interleaved slot (n requests x k slots of `team`; -1 slots are left out)."""
    n, k = team.shape
    keep = team.ravel() >= 0
    return pd.DataFrame(
        {
            "experiment": experiment,
            "request_id": np.repeat(np.asarray(request_ids, dtype=object), k)[keep],
            "position": np.tile(np.arange(k, dtype=np.int16), n)[keep],
            "team": team.ravel()[keep].astype(np.int8),
        }
    )


def write_teams(root: Path, day: date, frame: pd.DataFrame, part: str = "part-0") -> Path:
    """Write (replace) one day's part of the experiment log."""
    missing = [c for c in TEAM_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"experiment log lacks columns {missing}; expected {TEAM_COLUMNS}")
    folder = Path(root) / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{part}.parquet"
    frame[list(TEAM_COLUMNS)].to_parquet(path, index=False)
    return path


def read_teams(root: Path) -> pd.DataFrame:
    """Every day of the experiment log (empty, with the columns, when there is none)."""
    files = sorted(Path(root).glob("date=*/*.parquet"))
    if not files:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in TEAM_COLUMNS})
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def experiment_outcomes(
    teams: pd.DataFrame, events: pd.DataFrame, alpha: float = 0.05
) -> dict[str, tuple[Outcome, int]]:
    """Per experiment: the outcome from the clicks and applies on its slots, and its requests."""
    out: dict[str, tuple[Outcome, int]] = {}
    acts = events[events["type"].isin(["click", "apply"])]
    for name, slots in teams.groupby("experiment"):
        requests, req = np.unique(slots["request_id"].to_numpy(dtype=str), return_inverse=True)
        k = int(slots["position"].max()) + 1
        team = np.full((len(requests), k), -1, np.int8)
        team[req, slots["position"].to_numpy(np.int64)] = slots["team"].to_numpy(np.int8)
        mine = acts[acts["request_id"].isin(requests)]
        at = np.searchsorted(requests, mine["request_id"].to_numpy(dtype=str))
        pos = mine["position"].to_numpy(np.int64)
        inside = pos < k
        clicks = np.zeros(team.shape)
        applies = np.zeros(team.shape)
        is_click = (mine["type"].to_numpy() == "click") & inside
        is_apply = (mine["type"].to_numpy() == "apply") & inside
        np.add.at(clicks, (at[is_click], pos[is_click]), 1.0)
        np.add.at(applies, (at[is_apply], pos[is_apply]), 1.0)
        out[str(name)] = (outcome(credit(team, clicks, applies), alpha), len(requests))
    return out
