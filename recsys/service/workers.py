"""`recsys serve --workers N`: N API worker processes that share one copy of the big state.

Every worker needs the catalog columns, the embeddings, the job index and the encoder weights,
and reads them far more than it writes them. uvicorn's own workers are fresh processes, each
loading its own copy (~1.2 GB at 100k jobs). Here a gunicorn master loads them once
(`loader.preload`, with `preload_app`) and forks the workers (`uvicorn_worker.UvicornWorker`)
from it, so every worker maps the same physical pages, copy-on-write: a worker pays only for
the pages it writes (its requests, its stores, the rows it appends from the catalog feed).

What must not cross the fork is opened only in the workers, by the app's lifespan, as in a
single process: the online store and event stream (Redis, SQLite), the registry, the
catalog feed's poller and the maintenance threads. The master's catalog-database pool is
emptied before the fork (each worker connects anew), and the objects loaded are moved out of
the garbage collector's reach (`gc.freeze`), whose bookkeeping would otherwise write to, and
so copy, every page holding one.

Each worker follows the catalog database's change feed on its own, which is how a posting
added through one worker reaches the others (within RECSYS_CATALOG_POLL_S).
"""

from __future__ import annotations

import gc
import logging
import threading
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.util import import_app

from recsys.service.loader import Preloaded, preload
from recsys.settings import Settings

log = logging.getLogger(__name__)

#: the gunicorn worker class: uvicorn's, from the package uvicorn itself now points to
WORKER_CLASS = "uvicorn_worker.UvicornWorker"
#: the app the master loads before forking (`api.app.create_shared_app`)
SHARED_APP = "api.app:create_shared_app()"


def preload_for_fork(settings: Settings) -> Preloaded:
    """`preload`, then the master made safe and cheap to fork: no pooled database connection,
    the loaded objects frozen out of the garbage collector's passes."""
    preloaded = preload(settings)
    preloaded.catalog_store.engine.dispose()
    gc.collect()
    gc.freeze()
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if others:
        log.warning("threads running before the workers fork (not in the workers): %s", others)
    return preloaded


class SharedMemoryServer(BaseApplication):
    """gunicorn with `options`, serving the app `SHARED_APP` loaded once in the master."""

    def __init__(self, options: dict[str, Any], app_uri: str = SHARED_APP):
        self.options = options
        self.app_uri = app_uri
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return import_app(self.app_uri)


def gunicorn_options(
    settings: Settings, host: str, port: int, workers: int, log_level: str
) -> dict[str, Any]:
    """The gunicorn settings of `recsys serve --workers N` with shared memory."""
    return {
        "bind": [f"{host}:{port}"],
        "workers": workers,
        "worker_class": WORKER_CLASS,
        "preload_app": True,
        "timeout": settings.api_worker_timeout_s,
        "keepalive": settings.api_keepalive_s,  # the uvicorn worker's timeout_keep_alive
        "loglevel": log_level,
        "accesslog": None,
        "errorlog": "-",
        # gunicorn's runtime control socket is one path per user: a second server would take it
        "control_socket_disable": True,
    }


def serve_shared(settings: Settings, host: str, port: int, workers: int, log_level: str) -> None:
    """Run the API with `workers` forked workers until a signal stops it (gunicorn's: TERM
    drains gracefully, INT and QUIT stop at once)."""
    SharedMemoryServer(gunicorn_options(settings, host, port, workers, log_level)).run()
