"""`recsys serve`: the API under uvicorn over the catalog database, on the settings' stores
(SQLite embedded, or Redis)."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def serve(
    log_dir: Path | None = typer.Option(
        None, "--log-dir", help="the events/ and features/ log (default: the demo's market)"
    ),
    database: str | None = typer.Option(
        None, "--database", help="catalog database URL (default RECSYS_DATABASE_URL, or SQLite)"
    ),
    ranker: Path | None = typer.Option(None, "--ranker", help="folder from `recsys ranker train`"),
    encoder: str | None = typer.Option(None, "--encoder", help="'base' or an encoder folder"),
    store: str | None = typer.Option(None, "--store", help="sqlite (embedded) or redis"),
    host: str | None = typer.Option(None, "--host"),
    port: int | None = typer.Option(None, "--port"),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="worker processes (default RECSYS_API_WORKERS, 1); more than one share the "
        "catalog, index and encoder, forked from one loaded copy (RECSYS_API_SHARED_MEMORY)",
    ),
    log_level: str = typer.Option("warning", "--log-level"),
) -> None:
    """Start the recommendation API; /readyz turns 200 once models and stores are loaded."""
    import uvicorn

    from recsys.settings import get_settings

    overrides = {
        "RECSYS_LOG_DIR": log_dir,
        "RECSYS_DATABASE_URL": database,
        "RECSYS_SERVE_RANKER_DIR": ranker,
        "RECSYS_ENCODER_MODEL": encoder,
        "RECSYS_ONLINE_STORE": store,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    # Requests run side by side on the API's threads; intra-op thread pools (BLAS, OpenMP in
    # FAISS, onnxruntime) on top of that only fight over the same cores.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("RECSYS_ENCODER_ONNX_THREADS", "1")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    get_settings.cache_clear()
    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    workers = workers or settings.api_workers
    if workers > 1 and settings.api_shared_memory:
        from recsys.service.workers import serve_shared

        serve_shared(settings, host, port, workers, log_level)
        return
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=settings.api_keepalive_s,
    )
