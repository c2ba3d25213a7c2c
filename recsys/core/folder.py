"""A market folder as the service reads it: the catalog, the seekers and the logs, no simulator.

The simulator writes these folders (`recsys.market.market.Market.save`, which adds `truth/`, the
ground truth no serving code reads); the service serves one (`recsys.service.loader`). Both name
the files through this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from recsys.jobs import load_catalog

META_FILE: Final[str] = "market.json"
JOBS_FILE: Final[str] = "jobs.parquet"
SEEKERS_FILE: Final[str] = "seekers.parquet"
EVENTS_DIR: Final[str] = "events"
#: what employers did (candidate lists browsed, responses to applications), apart from `events`
EMPLOYER_EVENTS_DIR: Final[str] = "employer_events"
FEATURES_DIR: Final[str] = "features"


def simulated_now(start: date, days: int) -> np.datetime64:
    """The simulated clock of a market of `days` days from `start`: noon of the day after its
    last day."""
    end = start + timedelta(days=days)
    return np.datetime64(f"{end.isoformat()}T12:00:00", "s")


@dataclass(frozen=True)
class MarketFolder:
    """Paths and readers of one market folder."""

    path: Path

    @property
    def meta_path(self) -> Path:
        return self.path / META_FILE

    @property
    def events(self) -> Path:
        return self.path / EVENTS_DIR

    @property
    def features(self) -> Path:
        return self.path / FEATURES_DIR

    def exists(self) -> bool:
        return self.meta_path.is_file()

    def meta(self) -> dict[str, Any]:
        if not self.exists():
            raise FileNotFoundError(
                f"{self.path} is not a market folder (no {META_FILE}); "
                "create one with `recsys simulate --out DIR`"
            )
        return dict(json.loads(self.meta_path.read_text()))

    def jobs(self) -> pd.DataFrame:
        return load_catalog(self.path / JOBS_FILE)

    def seekers(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / SEEKERS_FILE)

    def now(self) -> np.datetime64:
        """The market's simulated clock (`simulated_now` of its configured start and days)."""
        config = self.meta()["config"]
        return simulated_now(date.fromisoformat(str(config["start"])), int(config["days"]))
