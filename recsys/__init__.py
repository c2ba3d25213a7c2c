"""recsys: a job recommendation service (recall, coarse, fine, rerank)."""

__version__ = "0.1.0"
