"""The catalog database: postings and seeker profiles, the source of truth a job board owns.

PostgreSQL in production, SQLite embedded, one schema through SQLAlchemy Core with Alembic
migrations. This package is the storage layer: it imports nothing from the rest of recsys.
"""

from recsys.catalog_db.engine import CatalogNotMigratedError, open_engine
from recsys.catalog_db.store import CatalogStore, UpsertResult

__all__ = ["CatalogNotMigratedError", "CatalogStore", "UpsertResult", "open_engine"]
