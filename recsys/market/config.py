"""Knobs of a simulated market; the same config and seed give the same market."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date


@dataclass(frozen=True)
class MarketConfig:
    """Sizes, time span and traffic of a simulated market."""

    n_jobs: int = 100_000
    n_seekers: int = 50_000
    days: int = 14
    seed: int = 42
    start: date = date(2026, 1, 5)
    #: jobs per employer on average; employers are real names from the LinkedIn dumps.
    jobs_per_company: int = 25
    #: share of seekers who join during the simulated period (the rest are returning users).
    new_seeker_share: float = 0.3
    #: chance that a returning / new (after joining) seeker asks for recommendations on a day.
    daily_activity_returning: float = 0.12
    daily_activity_new: float = 0.2
    #: length of each served list.
    list_length: int = 20

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["start"] = self.start.isoformat()
        return out

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> MarketConfig:
        raw = dict(raw)
        raw["start"] = date.fromisoformat(str(raw["start"]))
        return cls(**raw)  # type: ignore[arg-type]
