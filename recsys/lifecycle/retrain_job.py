"""One logical date's retrain: the folder its steps read and write, and the registry they use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from recsys.catalog_db import CatalogNotMigratedError, CatalogStore
from recsys.core.folder import EVENTS_DIR, FEATURES_DIR
from recsys.registry.mlflow_registry import ModelRegistry
from recsys.settings import Settings, get_settings


@dataclass(frozen=True)
class RetrainJob:
    """One logical date's retrain: where it reads and writes (`<retrain_root>/<YYYY-MM-DD>/`)."""

    day: date
    settings: Settings

    @classmethod
    def of(cls, day: date | str, settings: Settings | None = None) -> RetrainJob:
        parsed = date.fromisoformat(day) if isinstance(day, str) else day
        return cls(parsed, settings or get_settings())

    @property
    def folder(self) -> Path:
        return self.settings.retrain_root / self.day.isoformat()

    @property
    def market_dir(self) -> Path:
        return self.settings.market_dir

    @property
    def events_root(self) -> Path:
        return self.settings.event_log_dir / EVENTS_DIR

    @property
    def features_root(self) -> Path:
        return self.settings.event_log_dir / FEATURES_DIR

    def forgotten_users(self) -> pd.DataFrame | None:
        """(user_id, deleted_at) of users deleted from the catalog database (None: no database
        yet, as for a simulated market that was never served)."""
        try:
            store = CatalogStore.open(self.settings.catalog_url)
        except CatalogNotMigratedError:
            return None
        try:
            return store.seekers.deleted()
        finally:
            store.close()

    @property
    def training_set_path(self) -> Path:
        """The served rows with their labels, written by `training_set`, read by `train`."""
        return self.folder / "training_set.parquet"

    @property
    def report_dir(self) -> Path:
        """The evaluation report (HTML and JSON), logged with every candidate's run."""
        return self.folder / "report"

    def candidate_dir(self, kind: str) -> Path:
        return self.folder / "candidates" / kind

    def validation_scores(self, kind: str) -> Path:
        """The candidate's scores and apply labels on its validation rows (Parquet)."""
        return self.folder / "candidates" / f"{kind}_valid.parquet"

    def trained(self, kind: str) -> bool:
        """Whether the `train` step has produced a candidate of this kind for the date."""
        return (self.folder / f"train_{kind}.json").is_file() and self.candidate_dir(kind).is_dir()

    def write(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
        return payload

    def read(self, name: str) -> dict[str, Any]:
        path = self.folder / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: run the earlier retrain steps for {self.day} first"
            )
        return json.loads(path.read_text())

    def registry(self) -> ModelRegistry:
        return ModelRegistry.from_settings(self.settings)
