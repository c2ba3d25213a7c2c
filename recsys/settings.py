"""The one settings class. Every knob lives here; defaults run embedded (no server needed)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
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

    # Catalog database (postings, seeker profiles): PostgreSQL in production
    # (postgresql+psycopg://user@host/db); None: the embedded SQLite file under artifacts_dir.
    database_url: str | None = None
    # How long a posting stays open when it names no expiry.
    posting_open_days: int = 30
    # Every API process applies committed catalog changes this often (seconds).
    catalog_poll_s: float = 1.0

    # Online store, cache and event stream.
    online_store: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: Path | None = None
    stream_path: Path | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The service's Redis client: connect and reply timeouts (short, so a dead Redis costs
    # milliseconds), and how long every call skips Redis after a failure (circuit breaker)
    # before one call tries it again. While it is down, reads degrade and events are spooled.
    redis_connect_timeout_s: float = 0.25
    redis_socket_timeout_s: float = 0.5
    redis_cooldown_s: float = 1.0

    # Model registry and tracking.
    mlflow_uri: str | None = None
    # Training: the address of a Dask scheduler (tcp://host:8786) to build the training set and
    # fit the rankers on; None trains in-process.
    dask_scheduler: str | None = None
    # A candidate ranker becomes champion only with nDCG@10 on the held-out day at least this
    # much above the champion's (absolute), and only after the sanity checks pass.
    promotion_margin: float = 0.002
    # Requests replayed per policy by the retrain's offline evaluation.
    retrain_eval_requests: int = 300
    # The API serves the registry's champion ranker (when a registry exists) and follows the
    # alias, polling every model_poll_s seconds; False: the ranker folder only.
    serve_from_registry: bool = True
    model_poll_s: float = 10.0

    # Recall.
    recall_k: int = 10_000
    # A default search radius (not one the caller asked for) is widened recall_widen_factor
    # times, at most recall_widen_steps times, while fewer than recall_widen_min_good jobs
    # within it have cosine >= recall_widen_similarity to the query.
    recall_widen_similarity: float = 0.6
    recall_widen_min_good: int = 200
    recall_widen_factor: float = 3.0
    recall_widen_steps: int = 2
    # Candidate sources merged by recall (recsys.recall.sources), each capped by its quota: the
    # title ANN takes recall_k; item-to-item from applied and clicked jobs, popular and fresh
    # postings nearby in the seeker's occupation take these many.
    recall_quota_item: int = 300
    recall_quota_popular: int = 100
    recall_quota_fresh: int = 100
    # Clicked jobs weigh this much against an applied job in the item-to-item query.
    recall_click_weight: float = 0.5
    encoder_budget_steps: int = 300
    encoder_batch_size: int = 64
    # The title encoder the service uses: "base" or a folder written by `recsys encoder train`.
    encoder_model: str = "base"
    # Wall-clock cap on fine-tuning (None: steps alone decide).
    encoder_budget_minutes: float | None = None
    # Steps when a GPU is present and no budget is given: the full schedule instead of the demo's.
    encoder_gpu_steps: int = 3_000
    # `make demo` fine-tunes for this long (a time budget, so a slow box still finishes).
    encoder_demo_minutes: float = 4.0
    # Training caps titles at this many tokens (titles are a handful; serving keeps the cap).
    encoder_train_max_seq_length: int = 32
    # Share of steps drawn from ESCO occupations instead of O*NET (0: O*NET only).
    encoder_esco_weight: float = 0.5
    # ESCO occupations held out of training whole, for the `esco` benchmark.
    encoder_esco_heldout_fraction: float = 0.2
    # Fraction of anchors decorated like posting titles (seniority, location, shift, pay, typo).
    encoder_noise_rate: float = 0.3
    # Freeze the word-embedding table (half the weights): faster CPU steps, less forgetting.
    encoder_freeze_embeddings: bool = True
    # Freeze the embeddings and this many lowest transformer blocks (no backward through them).
    # In the demo's 4 minutes on a quiet 2-core box: 0 blocks 170 steps, 2 blocks 235, 3 blocks
    # 270; with the learning rate at 2e-4, 2 blocks scored best (README, "Encoder").
    encoder_frozen_layers: int = 2
    # bf16 autocast for the forward pass and loss on CPU too (CUDA always uses it); measured
    # slower on an avx512_bf16 CPU without AMX.
    encoder_cpu_bf16: bool = False
    # A CPU training step's forward runs over length-sorted chunks of at most this many padded
    # tokens, each padded to its own longest title (0: one forward padded to the step's longest).
    # Same vectors; 512 gave 2.4x the CPU steps/s on the demo's batches (1024: 2.1x, 256: as 512).
    encoder_train_chunk_tokens: int = 512
    # 2e-4 for the demo's few hundred steps (with 2 frozen blocks, against 1e-4 with none:
    # +0.010 MAP on O*NET, +0.030 on LinkedIn, ESCO and SOC level; README, "Encoder").
    encoder_learning_rate: float = 2e-4
    encoder_heldout_fraction: float = 0.1
    # Held-out O*NET titles (queries) in the retrieval evaluation a trained encoder carries.
    encoder_benchmark_queries: int = 1_000
    encoder_max_seq_length: int = 64
    encoder_cache_size: int = 4_096
    # onnxruntime intra-op threads for encoding small requests (0: onnxruntime decides). Bulk
    # encodes (catalogs) run one single-threaded call per core whatever this says.
    encoder_onnx_threads: int = 0
    # Serve the encoder's ONNX graph with int8 weights (per-channel dynamic quantisation): on
    # the base encoder it lost 0.0007 / 0.0013 MAP (O*NET / ESCO) for 2.8x bulk titles/s and a
    # cold title several times cheaper (`python -m benchmarks.encoder_int8`). Vectors of the
    # int8 graph carry their own fingerprint (`<fingerprint>-int8`), so stored embeddings and
    # indexes of one kind are never mixed with the other.
    encoder_onnx_int8: bool = True

    # Coarse ranking: weights of the composite score, and the cut (recsys.ranking.coarse says
    # how they were chosen).
    coarse_k: int = 500
    coarse_w_similarity: float = 0.3
    coarse_w_freshness: float = 0.2
    coarse_w_popularity: float = 0.1
    coarse_w_title: float = 0.1
    coarse_w_location: float = 0.5
    coarse_w_occupation: float = 1.0
    coarse_w_skills: float = 0.4
    coarse_w_seniority: float = 0.3

    # Rerank policy.
    rerank_max_per_company: int = 2
    rerank_freshness_boost: float = 0.05
    rerank_rating_boost: float = 0.03
    rerank_mmr_lambda: float | None = None
    # Congestion-aware rerank (recsys.ranking.balance): a job's score is shifted by up to
    # strength standard deviations of the list's scores, up for jobs short of their need, down
    # for those past it (full shift at max_factor times short or past); 0: off.
    # A job's need (applies it wants) is rerank_balance_need unless the catalog says otherwise.
    rerank_balance_strength: float = 0.0
    rerank_balance_max_factor: float = 3.0
    rerank_balance_need: float = 5.0

    # Online experiments (recsys.experiments): share of requests served by team-draft
    # interleaving of champion and challenger, and the significance level of the winner.
    experiment_interleave_share: float = 0.0
    experiment_alpha: float = 0.05

    # API.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Key for POST/DELETE /v1/jobs (header X-API-Key); the service warns while it is the default.
    api_admin_key: str = "change-me"
    # Seconds a verified employer key is trusted in process before the database is asked
    # again: a revoked key (`recsys keys revoke`) is refused within this long.
    api_key_cache_s: float = 2.0
    api_max_k: int = 100
    api_max_batch: int = 1_000
    api_max_body_bytes: int = 2_000_000
    # Requests running the pipeline at once; the others wait their turn. More threads than
    # cores only trade the GIL and the caches back and forth (measured: collapse under load).
    api_max_concurrency: int = 2
    # Admission control of the recommendation routes (api/admission.py): besides those running,
    # at most this many wait, none longer than the wait budget; the rest get 503 + Retry-After
    # at once, so accepted requests keep their latency and memory stays bounded past capacity.
    api_admission: bool = True
    api_admission_max_queue: int = 16
    api_admission_max_wait_ms: float = 25.0
    api_retry_after_s: int = 1
    # uvicorn worker processes of `recsys serve`: each loads the catalog and models (~1.2 GB at
    # 100k jobs); more than one sidesteps the GIL on a multi-core box.
    api_workers: int = 1
    # With more than one worker: load the catalog, its embeddings and index and the encoder
    # once in a gunicorn master and fork the workers from it, so they share those pages
    # copy-on-write (recsys.service.workers); false: every worker loads its own (uvicorn's).
    api_shared_memory: bool = True
    # Seconds a gunicorn worker may go silent before the master restarts it.
    api_worker_timeout_s: int = 60
    # Seconds the API keeps an idle HTTP connection open. Longer than any client's or proxy's
    # own idle timeout (nginx keeps upstream connections 60 s): the side that closes an idle
    # connection must be the one that would send on it next, or a request written just as the
    # server closes fails (uvicorn's default of 5 s broke a connection pinned by a test).
    api_keepalive_s: int = 75
    cache_ttl_s: int = 60
    # The offline log: the events/ and features/ partitions the service writes and training
    # reads (None: the simulated market's folder, whose events are the demo's log).
    log_dir: Path | None = None
    # A simulated market (its ground truth, for offline evaluation) and a ranker folder from
    # `recsys ranker train` (None: the demo's, when it exists; else coarse-only).
    serve_market_dir: Path | None = None
    serve_ranker_dir: Path | None = None
    # Served lists are written to the event stream and the feature log in batches this often.
    impression_flush_s: float = 1.0
    # The in-process popularity counters are re-read from the online store this often.
    popularity_refresh_s: float = 60.0

    @property
    def store_path(self) -> Path:
        """The SQLite file of the embedded online store."""
        return self.sqlite_path or self.artifacts_dir / "online_store.sqlite"

    @field_validator(
        "serve_ranker_dir",
        "serve_market_dir",
        "sqlite_path",
        "stream_path",
        "log_dir",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """RECSYS_SERVE_RANKER_DIR= (empty) means "none", not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def catalog_url(self) -> str:
        """The catalog database: RECSYS_DATABASE_URL, else a SQLite file under artifacts_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.artifacts_dir / 'catalog.sqlite').resolve()}"

    @property
    def event_stream_path(self) -> Path:
        """The SQLite file of the embedded event stream."""
        return self.stream_path or self.artifacts_dir / "event_stream.sqlite"

    @property
    def market_dir(self) -> Path:
        """The simulated market whose ground truth the offline evaluations read."""
        return self.serve_market_dir or self.artifacts_dir / "demo" / "market"

    @property
    def event_log_dir(self) -> Path:
        """The offline log (events/, features/): RECSYS_LOG_DIR, else the market folder."""
        return self.log_dir or self.market_dir

    @property
    def ranker_dir(self) -> Path | None:
        """The ranker folder `recsys serve` loads: the configured one, else the demo's when it
        exists; None (or RECSYS_SERVE_RANKER_DIR set empty) serves coarse-only."""
        if self.serve_ranker_dir is not None or "serve_ranker_dir" in self.model_fields_set:
            return self.serve_ranker_dir
        demo = self.artifacts_dir / "demo" / "ranker"
        return demo if demo.is_dir() else None

    @property
    def mlflow_artifacts(self) -> Path:
        """Where runs of the embedded registry keep their artifacts."""
        return (self.artifacts_dir / "mlartifacts").resolve()

    @property
    def retrain_root(self) -> Path:
        """One folder per retrain date: `<root>/<YYYY-MM-DD>/` holds every step's output."""
        return self.artifacts_dir / "retrain"

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
