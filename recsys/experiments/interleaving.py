"""Team-draft interleaving (Radlinski, Kurup and Joachims, 2008), vectorised over requests.

Each served list is drafted from the champion's (team 0) and the challenger's (team 1) rankings:
the team with fewer picks so far (a coin flip on ties) adds its best job not yet in the list.
Every slot remembers its team, so a click or apply on it is credited to the ranker that put it
there; per request, the team with more credit wins. Interleaving compares both rankers on the
same request for the same seeker, which is why it needs far fewer requests than an A/B split.
The draft loops over the k output slots only; each step is one array operation over all requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

#: team codes of a slot
CHAMPION, CHALLENGER = 0, 1
#: an apply is worth this many clicks when a request's credit is counted
APPLY_WEIGHT = 3.0


def team_draft(
    a: np.ndarray, b: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Interleave rankings `a` and `b` (n requests x L items, best first, -1 padding; no item
    twice within a row) into n x k lists; returns (items, team of each slot), -1 where both ran
    out."""
    a, b = np.atleast_2d(a).astype(np.int64), np.atleast_2d(b).astype(np.int64)
    n = a.shape[0]
    out = np.full((n, k), -1, np.int64)
    team = np.full((n, k), -1, np.int8)
    used = [a < 0, b < 0]  # positions of each ranking already in the list (or padding)
    picks = np.zeros((n, 2), np.int64)
    coin = rng.random((n, k)) < 0.5
    rows = np.arange(n)
    for slot in range(k):
        left = [~u.all(axis=1) for u in used]
        first = np.where(picks[:, 0] == picks[:, 1], coin[:, slot], picks[:, 0] < picks[:, 1])
        who = np.where(first, CHAMPION, CHALLENGER)
        who = np.where(left[0] & ~left[1], CHAMPION, np.where(left[1] & ~left[0], CHALLENGER, who))
        active = np.asarray(left[0] | left[1])
        pos = np.where(who == CHAMPION, np.argmax(~used[0], axis=1), np.argmax(~used[1], axis=1))
        item = np.where(who == CHAMPION, a[rows, pos], b[rows, pos])
        item = np.where(active, item, -1)
        out[:, slot] = item
        team[:, slot] = np.where(active, who, -1)
        picks[rows[active], who[active]] += 1
        for u, ranking in zip(used, (a, b), strict=True):
            u |= (ranking == item[:, None]) & active[:, None]
    return out, team


def credit(team: np.ndarray, clicks: np.ndarray, applies: np.ndarray) -> np.ndarray:
    """Per request, each team's credit (n x 2): its slots' clicks plus APPLY_WEIGHT x applies."""
    value = clicks.astype(np.float64) + APPLY_WEIGHT * applies.astype(np.float64)
    return np.stack([(value * (team == t)).sum(axis=1) for t in (CHAMPION, CHALLENGER)], axis=1)


@dataclass(frozen=True)
class Outcome:
    """Wins per team over the requests with any credit; the sign test's p-value on them."""

    champion_wins: int
    challenger_wins: int
    ties: int
    p_value: float
    alpha: float

    @property
    def winner(self) -> str:
        """'challenger' or 'champion' when significant at `alpha`, else 'undecided'."""
        if self.p_value >= self.alpha or self.champion_wins == self.challenger_wins:
            return "undecided"
        return "challenger" if self.challenger_wins > self.champion_wins else "champion"

    @property
    def leader(self) -> str:
        """The team with more wins, significant or not ('tie' when equal)."""
        if self.champion_wins == self.challenger_wins:
            return "tie"
        return "challenger" if self.challenger_wins > self.champion_wins else "champion"

    def as_dict(self) -> dict[str, object]:
        return {
            "champion_wins": self.champion_wins,
            "challenger_wins": self.challenger_wins,
            "ties": self.ties,
            "p_value": self.p_value,
            "winner": self.winner,
        }


def outcome(credits: np.ndarray, alpha: float = 0.05) -> Outcome:
    """Wins from per-request credits (n x 2); a two-sided binomial sign test over the decided
    requests (ties and requests without clicks carry no information and are left out)."""
    c = np.asarray(credits, dtype=np.float64).reshape(-1, 2)
    champ = int((c[:, 0] > c[:, 1]).sum())
    chall = int((c[:, 1] > c[:, 0]).sum())
    ties = int(((c[:, 0] == c[:, 1]) & (c.sum(axis=1) > 0)).sum())
    p = binomtest(chall, champ + chall, 0.5).pvalue if champ + chall else 1.0
    return Outcome(champ, chall, ties, float(p), alpha)
