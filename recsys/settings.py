"""The one settings class. Every knob lives here; defaults run embedded (no server needed)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    """../shared/data next to the checkout when it exists, else ./data."""
    shared = _REPO_ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else Path("data")


class Settings(BaseSettings):
    """Settings read from `RECSYS_*` environment variables (and a `.env` file)."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    artifacts_dir: Path = Path("artifacts")
    seed: int = 42

    # Online store, cache and event stream.
    online_store: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: Path | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"

    # Model registry and tracking.
    mlflow_uri: str | None = None

    # Recall.
    recall_k: int = 10_000
    encoder_budget_steps: int = 300
    encoder_batch_size: int = 64
    # The title encoder the service uses: "base" or a folder written by `recsys encoder train`.
    encoder_model: str = "base"
    # Wall-clock cap on fine-tuning (None: steps alone decide).
    encoder_budget_minutes: float | None = None
    # Steps when a GPU is present and no budget is given: the full schedule instead of the demo's.
    encoder_gpu_steps: int = 3_000
    encoder_learning_rate: float = 1e-4
    encoder_heldout_fraction: float = 0.1
    encoder_max_seq_length: int = 64
    encoder_cache_size: int = 4_096
    # onnxruntime intra-op threads for encoding (0: onnxruntime decides).
    encoder_onnx_threads: int = 0

    # Coarse ranking: weights of the composite score, and the cut.
    coarse_k: int = 500
    coarse_w_similarity: float = 1.0
    coarse_w_freshness: float = 0.3
    coarse_w_popularity: float = 0.2
    coarse_w_title: float = 0.4
    coarse_w_location: float = 0.3

    # Rerank policy.
    rerank_max_per_company: int = 2
    rerank_freshness_boost: float = 0.05
    rerank_rating_boost: float = 0.03
    rerank_mmr_lambda: float | None = None

    # API.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_admin_key: str = "change-me"
    api_max_k: int = 100
    cache_ttl_s: int = 60

    @property
    def store_path(self) -> Path:
        """The SQLite file of the embedded online store."""
        return self.sqlite_path or self.artifacts_dir / "online_store.sqlite"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI: a server when configured, else a local SQLite file."""
        if self.mlflow_uri:
            return self.mlflow_uri
        return f"sqlite:///{(self.artifacts_dir / 'mlflow.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return Settings()
